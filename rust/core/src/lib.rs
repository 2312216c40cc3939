//! cxmetrics-core: customer-experience metrics on Arrow memory.
//!
//! Data flows one way: Arrow arrays -> dense segment ids ([`group`]) + scale codes ([`scale`])
//! -> tallies, the sufficient statistic ([`tally`], over updates [`aggregator`], kept and
//! stored by [`state`]) -> estimates and intervals ([`estimate`], [`bootstrap`],
//! [`weighted_bootstrap`], [`bayes`], [`compare`], [`composite`]) -> rows of results
//! ([`report`]). A module uses only modules before it in this flow (plus the leaves [`error`],
//! [`exact_sum`], [`quantile`], [`streams`], [`metric`]). Nothing here knows about Python;
//! `docs/architecture.md` is the map.

#![deny(missing_docs)]

pub mod bayes;
pub mod bootstrap;
pub mod cancel;
pub mod compare;
pub mod composite;
pub mod drivers;
pub mod error;
pub mod estimate;
pub mod exact_sum;
pub mod group;
pub mod keyed_tallies;
pub mod metric;
pub mod planning;
pub mod quantile;
mod recent_intervals;
pub mod report;
pub mod scale;
pub mod state;
pub mod state_report;
pub mod streams;
pub mod tally;
pub mod unions;
pub mod weighted_bootstrap;

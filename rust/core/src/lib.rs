//! cxmetrics-core: customer-experience metrics on Arrow memory.
//!
//! Data flows one way: Arrow arrays -> dense segment ids + scale codes -> histogram (the
//! sufficient statistic) -> estimates and intervals. Nothing here knows about Python.

pub mod accumulate;
pub mod bayes;
pub mod bootstrap;
pub mod compare;
pub mod composite;
pub mod drivers;
pub mod error;
pub mod estimate;
pub mod exact_sum;
pub mod group;
pub mod histogram;
pub mod metric;
pub mod planning;
pub mod quantile;
pub mod replicates;
pub mod report;
pub mod scale;
pub mod weighted_bootstrap;

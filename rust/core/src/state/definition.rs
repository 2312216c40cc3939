//! An accumulator's definition: which metric with which options, how invalid scores are
//! treated, which columns it reads, and the settings of its bootstrap replicates. Stored in the
//! state's bytes (format 3) so that one byte format, owned here, carries everything.
//!
//! The definition is typed rather than stored as JSON: the options of each metric are a few
//! integers and choices, so typed fields leave nothing to parse (no floats, no NaN, no key
//! order, no canonical form to check) and a decoder that validates every field is short. The
//! rules that make a definition valid, consistent with its tallies, and mergeable with another
//! live here once. Uses `metric`, `scale`, `state` and `error`.

use std::fmt::Write;

use crate::error::{CoreError, Result};
use crate::metric::MetricSpec;
use crate::scale::Scale;
use crate::state::AccumulatorState;

/// Statistic of CSAT and CES: the share of the satisfied / agreeing answers, or the mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// Share of answers in the top bucket.
    Share,
    /// Mean score.
    Mean,
}

/// Which CES question: CES 2.0 (1-7 agreement) or the effort scale (1-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CesVariant {
    /// "2.0": 1-7 agreement, agreeing = 5-7.
    Agreement,
    /// "effort": 1-5 effort, low effort = 1-2.
    Effort,
}

impl CesVariant {
    /// The scale this variant's answers are on.
    pub fn scale(self) -> Scale {
        match self {
            CesVariant::Agreement => Scale { low: 1, high: 7 },
            CesVariant::Effort => Scale { low: 1, high: 5 },
        }
    }
}

/// A metric with its options (the scale is [`Definition::scale`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricOptions {
    /// Net Promoter Score with its promoter and detractor ranges.
    Nps {
        /// Promoter scores, inclusive.
        promoters: (i64, i64),
        /// Detractor scores, inclusive.
        detractors: (i64, i64),
    },
    /// CSAT: share of satisfied answers, or the mean.
    Csat {
        /// Satisfied scores, inclusive.
        satisfied: (i64, i64),
        /// Share or mean.
        statistic: Statistic,
    },
    /// Customer Effort Score.
    Ces {
        /// Which question.
        variant: CesVariant,
        /// Share or mean.
        statistic: Statistic,
    },
    /// Share of the `k` highest scale points.
    TopBox {
        /// How many points.
        k: i64,
    },
    /// Share of the `k` lowest scale points.
    BottomBox {
        /// How many points.
        k: i64,
    },
    /// Mean score.
    Mean,
}

impl MetricOptions {
    /// The metric's name, as users pass it.
    pub fn name(&self) -> &'static str {
        match self {
            MetricOptions::Nps { .. } => "nps",
            MetricOptions::Csat { .. } => "csat",
            MetricOptions::Ces { .. } => "ces",
            MetricOptions::TopBox { .. } => "top_box",
            MetricOptions::BottomBox { .. } => "bottom_box",
            MetricOptions::Mean => "mean",
        }
    }
}

/// What the accumulator does with a score off the scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInvalid {
    /// Reject the batch.
    Raise,
    /// Count it as invalid and leave it out.
    Drop,
}

/// Everything that defines an accumulator besides its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The metric and its options.
    pub metric: MetricOptions,
    /// The scale the answers are on.
    pub scale: Scale,
    /// What invalid scores do.
    pub on_invalid: OnInvalid,
    /// Whether updates take a table whose columns are named here (else columns are given).
    pub table: bool,
    /// The score column's name (None: column mode before the first update).
    pub score: Option<String>,
    /// The segment key columns' names (None: unsegmented).
    pub by: Option<Vec<String>>,
    /// The weight column's name (None: unweighted).
    pub weight: Option<String>,
    /// Poisson-bootstrap replicates kept, and their seed (None: no replicates).
    pub replicates: Option<(usize, Option<u64>)>,
}

impl Definition {
    /// Checks the options against the scale and the columns against each other
    /// (`InvalidArgument` naming the fault).
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(CoreError::InvalidArgument(m));
        let scale = self.scale;
        let spec = match &self.metric {
            MetricOptions::Nps {
                promoters,
                detractors,
            } => MetricSpec::net(scale, *promoters, *detractors).map(drop),
            MetricOptions::Csat {
                satisfied,
                statistic: Statistic::Share,
            } => MetricSpec::share(scale, *satisfied).map(drop),
            MetricOptions::Csat { .. } | MetricOptions::Mean => Ok(()),
            MetricOptions::Ces { variant, .. } if variant.scale() != scale => {
                return bad(format!(
                    "ces answers are on {}..{}, not {}..{}",
                    variant.scale().low,
                    variant.scale().high,
                    scale.low,
                    scale.high
                ))
            }
            MetricOptions::Ces { .. } => Ok(()),
            MetricOptions::TopBox { k } => MetricSpec::box_share(scale, *k, true).map(drop),
            MetricOptions::BottomBox { k } => MetricSpec::box_share(scale, *k, false).map(drop),
        };
        spec?;
        // Column names become Arrow field names, which cross the C data interface as C strings.
        let named = self
            .score
            .iter()
            .chain(self.by.iter().flatten())
            .chain(self.weight.iter());
        if let Some(name) = named.into_iter().find(|n| n.contains('\0')) {
            return bad(format!("column name {name:?} contains a NUL character"));
        }
        if self.table && self.score.is_none() {
            return bad("a definition that reads a table names no score column".into());
        }
        if self.replicates.is_some() && self.weight.is_none() {
            return bad(
                "replicates= keeps Poisson-bootstrap replicates for weighted data: name \
                        the weight= column (unweighted accumulators bootstrap exactly from their \
                        histograms, no replicates needed)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Checks that `state` holds tallies laid out for this definition (`InvalidArgument`).
    /// An accumulator that has no score column yet (column mode, no data) holds no state.
    pub fn check_state(&self, state: Option<&AccumulatorState>) -> Result<()> {
        let bad = |m: &str| Err(CoreError::InvalidArgument(m.into()));
        let Some(state) = state else {
            if self.table || self.score.is_some() {
                return bad("the definition names its columns but there are no tallies");
            }
            if self.by.is_some() || self.weight.is_some() || self.replicates.is_some() {
                return bad("an accumulator without data names key or weight columns");
            }
            return Ok(());
        };
        if self.score.is_none() {
            return bad("the tallies have no column names");
        }
        if state.scale() != self.scale {
            return Err(CoreError::InvalidArgument(format!(
                "the tallies are on scale {}..{}, the metric on {}..{}",
                state.scale().low,
                state.scale().high,
                self.scale.low,
                self.scale.high
            )));
        }
        let n_keys = self.by.as_ref().map_or(0, Vec::len);
        if state.n_keys() != n_keys || state.weighted() != self.weight.is_some() {
            return bad("the tallies do not match the key and weight columns");
        }
        let replicates = state.streams().map(|s| (s.replicates, s.seed));
        if replicates != self.replicates {
            return bad("the tallies do not match the bootstrap replicates");
        }
        Ok(())
    }

    /// Whether accumulators of `self` and `other` may merge: the same metric, options and
    /// treatment of invalid scores and mode, and when both hold data also the same columns and
    /// replicates. Refusal is [`CoreError::Incompatible`] naming every field that differs.
    pub fn check_mergeable(&self, other: &Definition, both_hold_data: bool) -> Result<()> {
        let mut diff = Vec::new();
        let mut field = |name: &str, mine: String, theirs: String| {
            if mine != theirs {
                diff.push(format!("{name}: {mine} vs {theirs}"));
            }
        };
        field(
            "metric",
            quoted(self.metric.name()),
            quoted(other.metric.name()),
        );
        field("options", self.options_repr(), other.options_repr());
        field(
            "on_invalid",
            quoted(self.on_invalid_name()),
            quoted(other.on_invalid_name()),
        );
        field("table", bool_repr(self.table), bool_repr(other.table));
        if both_hold_data {
            field("score", opt(&self.score), opt(&other.score));
            field("by", names(&self.by), names(&other.by));
            field("weight", opt(&self.weight), opt(&other.weight));
            field("bootstrap", self.replicates_repr(), other.replicates_repr());
        }
        if diff.is_empty() {
            return Ok(());
        }
        Err(CoreError::Incompatible(format!(
            "cannot merge accumulators with different definitions ({})",
            diff.join(", ")
        )))
    }

    /// The name users pass as `on_invalid=`.
    pub fn on_invalid_name(&self) -> &'static str {
        match self.on_invalid {
            OnInvalid::Raise => "raise",
            OnInvalid::Drop => "drop",
        }
    }

    /// The options as the Python facade shows them (a dict literal).
    fn options_repr(&self) -> String {
        let scale = format!("[{}, {}]", self.scale.low, self.scale.high);
        let pair = |(a, b): (i64, i64)| format!("[{a}, {b}]");
        let stat = |s: Statistic| quoted(statistic_name(s));
        match &self.metric {
            MetricOptions::Nps {
                promoters,
                detractors,
            } => format!(
                "{{'scale': {scale}, 'promoters': {}, 'detractors': {}}}",
                pair(*promoters),
                pair(*detractors)
            ),
            MetricOptions::Csat {
                satisfied,
                statistic,
            } => format!(
                "{{'scale': {scale}, 'satisfied': {}, 'statistic': {}}}",
                pair(*satisfied),
                stat(*statistic)
            ),
            MetricOptions::Ces { variant, statistic } => format!(
                "{{'variant': {}, 'statistic': {}}}",
                quoted(variant_name(*variant)),
                stat(*statistic)
            ),
            MetricOptions::TopBox { k } => format!("{{'scale': {scale}, 'top': {k}}}"),
            MetricOptions::BottomBox { k } => format!("{{'scale': {scale}, 'bottom': {k}}}"),
            MetricOptions::Mean => format!("{{'scale': {scale}}}"),
        }
    }

    fn replicates_repr(&self) -> String {
        match self.replicates {
            None => "None".into(),
            Some((b, seed)) => format!(
                "{{'replicates': {b}, 'seed': {}}}",
                seed.map_or("None".into(), |s| s.to_string())
            ),
        }
    }
}

/// The name users pass as `statistic=`.
pub fn statistic_name(s: Statistic) -> &'static str {
    match s {
        Statistic::Share => "share",
        Statistic::Mean => "mean",
    }
}

/// The name users pass as `variant=`.
pub fn variant_name(v: CesVariant) -> &'static str {
    match v {
        CesVariant::Agreement => "2.0",
        CesVariant::Effort => "effort",
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' | '\\' => {
                let _ = write!(out, "\\{c}");
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or("None".into(), quoted)
}

fn names(by: &Option<Vec<String>>) -> String {
    by.as_ref().map_or("None".into(), |v| {
        format!(
            "[{}]",
            v.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ")
        )
    })
}

fn bool_repr(b: bool) -> String {
    if b { "True" } else { "False" }.into()
}

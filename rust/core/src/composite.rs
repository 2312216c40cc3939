//! Composite indices: a per-respondent weighted combination of several questions (e.g. the mean
//! of three 1–7 answers), averaged over respondents.
//!
//! Such a statistic depends on the respondents only through how many gave each distinct tuple
//! of answers, so the rows are grouped by (segment keys…, answers…) — the ordinary aggregation
//! with the answers as extra keys — and everything after works on the joint histogram of
//! tuples: the mean and its t interval, and the exact bootstrap as one multinomial draw over the
//! distinct tuples.

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef};

use crate::bootstrap::{bootstrap_counts, BootstrapSpec};
use crate::error::{CoreError, Result};
use crate::estimate::Estimate;
use crate::keyed_tallies::Grouped;
use crate::quantile::{check_confidence, t_critical, z_critical};
use crate::report::{segment_batch, EstimateColumns, SegmentRows};
use crate::scale::Scale;

/// One segment's joint histogram, reduced to (composite value, respondents) cells.
#[derive(Clone, Debug, Default)]
pub struct CompositeCells {
    /// Composite value of each cell.
    pub values: Vec<f64>,
    /// Respondents in each cell.
    pub counts: Vec<u64>,
    /// Respondents with a missing answer to any question.
    pub missing: u64,
    /// Respondents with an answer off the scale or fractional (dropped).
    pub invalid: u64,
}

/// Splits a grouping by (keys…, answers…) into one `CompositeCells` per segment, in key order.
/// `question_weights` combine the answers: value = Σ aᵢ xᵢ / Σ aᵢ.
pub fn composite_cells(
    grouped: &Grouped,
    n_keys: usize,
    scale: Scale,
    question_weights: &[f64],
) -> Result<Vec<CompositeCells>> {
    let n_questions = question_weights.len();
    if grouped.keys.len() != n_keys + n_questions {
        return Err(CoreError::InvalidArgument(
            "a composite needs one key column per question".into(),
        ));
    }
    let total_weight: f64 = question_weights.iter().sum();
    if !(total_weight.is_finite() && total_weight > 0.0)
        || question_weights.iter().any(|&a| a < 0.0)
    {
        return Err(CoreError::InvalidArgument(
            "question weights must be non-negative with a positive sum".into(),
        ));
    }
    let answers = grouped.keys[n_keys..]
        .iter()
        .map(|c| arrow_cast::cast(c, &arrow_schema::DataType::Float64))
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    let runs = grouped.segments_by_prefix(n_keys)?;
    let mut out = vec![CompositeCells::default(); runs.segments()];
    for g in 0..grouped.tallies.segments() {
        let cell = &mut out[runs.segment_of[g]];
        // Every row of the group has the same answers; the tally's total counts them all.
        let counts = grouped.tallies.counts(g);
        let respondents =
            counts.iter().sum::<u64>() + grouped.tallies.missing(g) + grouped.tallies.invalid(g);
        let mut value = 0.0;
        let mut state = Answer::Valid;
        for (col, &a) in answers.iter().zip(question_weights) {
            let col = col.as_primitive::<Float64Type>();
            if col.is_null(g) {
                state = state.max(Answer::Missing);
                continue;
            }
            let x = col.value(g);
            if !(x >= scale.low as f64 && x <= scale.high as f64 && x == x.trunc()) {
                state = Answer::Invalid;
                continue;
            }
            value += a * x;
        }
        match state {
            Answer::Valid => {
                cell.values.push(value / total_weight);
                cell.counts.push(respondents);
            }
            Answer::Missing => cell.missing += respondents,
            Answer::Invalid => cell.invalid += respondents,
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Valid,
    Missing,
    Invalid,
}

/// How a composite's interval is made.
pub enum CompositeInterval {
    /// No interval.
    None,
    /// Wald: value ± z · se.
    Wald,
    /// Student t on the respondents' composite values.
    T,
    /// The bootstrap over respondents' cells.
    Bootstrap(BootstrapSpec),
}

/// Mean of the composite over respondents, its se (sample sd / sqrt(n)) and interval.
pub fn estimate_composite(
    cells: &CompositeCells,
    interval: &CompositeInterval,
    confidence: f64,
    stream: u64,
) -> Result<(Estimate, Option<&'static str>)> {
    let confidence = check_confidence(confidence)?;
    let n: u64 = cells.counts.iter().sum();
    let mut est = Estimate {
        value: f64::NAN,
        se: f64::NAN,
        low: f64::NAN,
        high: f64::NAN,
        n,
        weighted_n: n as f64,
        effective_n: n as f64,
    };
    if n == 0 {
        return Ok((est, None));
    }
    let nf = n as f64;
    let mean = |c: &[f64]| {
        let total: f64 = c.iter().sum();
        c.iter().zip(&cells.values).map(|(k, v)| k * v).sum::<f64>() / total
    };
    let observed: Vec<f64> = cells.counts.iter().map(|&c| c as f64).collect();
    est.value = mean(&observed);
    let spread: f64 = observed
        .iter()
        .zip(&cells.values)
        .map(|(k, v)| k * (v - est.value) * (v - est.value))
        .sum();
    est.se = if n > 1 {
        (spread / (nf - 1.0) / nf).sqrt()
    } else {
        f64::NAN
    };
    let (lo, hi) = match interval {
        CompositeInterval::None => return Ok((est, None)),
        CompositeInterval::Wald => {
            let z = z_critical(confidence);
            (est.value - z * est.se, est.value + z * est.se)
        }
        CompositeInterval::T => {
            let t = t_critical(confidence, nf - 1.0);
            (est.value - t * est.se, est.value + t * est.se)
        }
        CompositeInterval::Bootstrap(spec) => {
            let boot = bootstrap_counts(
                &cells.counts,
                &mean,
                &BootstrapSpec {
                    confidence,
                    ..*spec
                },
                stream,
            );
            est.se = boot.std_error;
            if boot.estimate.is_finite() {
                est.value = boot.estimate;
            }
            let note = boot.degenerate.map(|d| d.message());
            (est.low, est.high) = (boot.low, boot.high);
            return Ok((est, note));
        }
    };
    (est.low, est.high) = (lo, hi);
    Ok((est, None))
}

/// All segments' cells together (for the overall estimate).
pub fn pool_composite_cells(cells: &[CompositeCells]) -> CompositeCells {
    CompositeCells {
        values: cells
            .iter()
            .flat_map(|c| c.values.iter().copied())
            .collect(),
        counts: cells
            .iter()
            .flat_map(|c| c.counts.iter().copied())
            .collect(),
        missing: cells.iter().map(|c| c.missing).sum(),
        invalid: cells.iter().map(|c| c.invalid).sum(),
    }
}

/// Segment keys (first row of each segment's run) and per-segment stream ids.
pub fn segment_keys(grouped: &Grouped, n_keys: usize) -> Result<(Vec<ArrayRef>, Vec<u64>)> {
    let runs = grouped.segments_by_prefix(n_keys)?;
    let index = arrow_array::UInt32Array::from(runs.firsts);
    let columns = grouped.keys[..n_keys]
        .iter()
        .map(|k| Ok(arrow_select::take::take(k.as_ref(), &index, None)?))
        .collect::<Result<Vec<_>>>()?;
    Ok((columns, runs.streams))
}

/// One row per segment, in the layout of `report::segment_batch` (no buckets; an empty
/// distribution, since a composite has no single scale).
pub fn composite_batch(
    cells: &[CompositeCells],
    streams: &[u64],
    keys: &[ArrayRef],
    key_names: &[String],
    interval: &CompositeInterval,
    confidence: f64,
) -> Result<arrow_array::RecordBatch> {
    let results = cells
        .iter()
        .zip(streams)
        .map(|(c, &s)| estimate_composite(c, interval, confidence, s))
        .collect::<Result<Vec<_>>>()?;
    let rows = SegmentRows {
        estimates: EstimateColumns::from_rows(&results),
        missing: cells.iter().map(|c| c.missing).collect(),
        invalid: cells.iter().map(|c| c.invalid).collect(),
        buckets: Vec::new(),
        points: 0,
        distributions: Vec::new(),
    };
    segment_batch(keys, key_names, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_t_interval_of_tuples() {
        // Composite values 2, 4, 6 with 1, 2, 1 respondents: mean 4, sample sd sqrt(8/3).
        let cells = CompositeCells {
            values: vec![2.0, 4.0, 6.0],
            counts: vec![1, 2, 1],
            missing: 0,
            invalid: 0,
        };
        let (e, _) = estimate_composite(&cells, &CompositeInterval::T, 0.95, 0).unwrap();
        assert!((e.value - 4.0).abs() < 1e-12);
        let se = (8.0f64 / 3.0).sqrt() / 2.0;
        assert!((e.se - se).abs() < 1e-12);
        assert!((e.high - (4.0 + 3.182446305284263 * se)).abs() < 1e-9);
    }

    #[test]
    fn bootstrap_of_tuples_brackets_the_mean() {
        let cells = CompositeCells {
            values: vec![1.0, 3.5, 7.0],
            counts: vec![30, 50, 20],
            missing: 0,
            invalid: 0,
        };
        let spec = BootstrapSpec {
            n_resamples: 2000,
            method: crate::bootstrap::BootstrapMethod::Bca,
            confidence: 0.95,
            seed: 1,
        };
        let (e, note) =
            estimate_composite(&cells, &CompositeInterval::Bootstrap(spec), 0.95, 3).unwrap();
        assert!(note.is_none());
        assert!(e.low < e.value && e.value < e.high);
        let (t, _) = estimate_composite(&cells, &CompositeInterval::T, 0.95, 3).unwrap();
        assert!((e.low - t.low).abs() < 0.1 && (e.high - t.high).abs() < 0.1);
    }
}

//! From driver statistics to the result table: per segment, the importance of every driver, its
//! sign, and bootstrap intervals (percentile, BC, BCa or studentized: [`super::interval`]) from
//! the replicate Gram matrices (the replicates are Poisson-bootstrap resamples, drawn here from
//! the tuple histogram ([`super::tuples`]) or kept from the pass ([`super::state`])).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int8Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{Field, Schema};
use rayon::prelude::*;

use super::gram::{moments, Gram};
use super::importance::{fit, Fit, Method};
use super::interval::{
    acceleration_from_replicates, acceleration_from_tuples, delta_se, influence_forms, outputs,
    Interval,
};
use super::segments::key_columns;
use super::state::{DriversState, Resampling, Segment};
use super::tuples::{bootstrap_key, Draws, Tuples};
use crate::bootstrap::{interval_from_bootstrap, quantile_sorted, BootstrapMethod};
use crate::cancel;
use crate::error::{CoreError, Result};

/// Options of the report.
#[derive(Clone, Debug)]
pub struct Request {
    /// How R² is decomposed.
    pub method: Method,
    /// Coverage of the intervals, in (0, 1).
    pub confidence: f64,
    /// Which interval is read off the replicates.
    pub interval: Interval,
    /// Segments with fewer rows get no estimate (a note instead).
    pub min_n: u64,
}

/// One segment's result: the fit (None with a note), and the interval of each importance and
/// of R² (NaN when there are no replicates).
#[derive(Clone, Debug)]
pub struct SegmentReport {
    /// The full model's decomposition; None when it cannot be fitted (see `note`).
    pub fit: Option<Fit>,
    /// Each driver's weighted correlation with the outcome (NaN when there are too few rows).
    pub correlation: Vec<f64>,
    /// Σw over the segment's rows (NaN when there are too few rows).
    pub weight_sum: f64,
    /// Why there is no fit: too few rows, no variance, or collinear drivers.
    pub note: Option<String>,
    /// Lower bound of each importance's bootstrap interval.
    pub low: Vec<f64>,
    /// Upper bound of each importance's bootstrap interval.
    pub high: Vec<f64>,
    /// Lower bound of R²'s bootstrap interval.
    pub r2_low: f64,
    /// Upper bound of R²'s bootstrap interval.
    pub r2_high: f64,
    /// Replicates whose model could be fitted (and, studentized, whose standard errors are
    /// positive): the others are left out of the interval.
    pub replicates_used: usize,
}

fn fit_gram(
    gram: &Gram,
    names: &[String],
    method: Method,
) -> (Option<Fit>, Vec<f64>, f64, Option<String>) {
    let p = names.len();
    let m = moments(gram);
    let correlation: Vec<f64> = (1..=p).map(|j| m.correlation[j * (p + 1)]).collect();
    if let Some(c) = m.constant {
        let what = if c == 0 {
            "the outcome has no variance".to_string()
        } else {
            format!("driver {:?} has no variance", names[c - 1])
        };
        return (None, correlation, m.weight_sum, Some(what));
    }
    match fit(&m.correlation, p, method) {
        Ok(f) => (Some(f), correlation, m.weight_sum, None),
        Err(_) => (
            None,
            correlation,
            m.weight_sum,
            Some("the drivers are collinear (one is a linear combination of others)".into()),
        ),
    }
}

/// Where a segment's bootstrap replicates come from.
pub enum Source<'a> {
    /// Drawn from the segment's tuple histogram when the report needs them: `b` replicates
    /// under the draw key `key` for the encoded segment key `segment`.
    Tuples {
        /// The histogram.
        tuples: &'a Tuples,
        /// The key of the draws ([`bootstrap_key`]).
        key: u64,
        /// The encoded segment key.
        segment: &'a [u8],
        /// How many replicates.
        b: usize,
    },
    /// Replicate Gram matrices drawn per row during the pass (none without a bootstrap).
    Rows(&'a [Gram]),
}

/// The delta-method standard errors of a replicate with counts `counts` (tuple by tuple, in
/// ascending order) and Gram matrix `gram`, from its own influence forms; None when its forms
/// cannot be computed or an error is not a positive finite number.
fn replicate_se(
    draws: &Draws,
    counts: &[u64],
    gram: &Gram,
    p: usize,
    method: Method,
) -> Option<Vec<f64>> {
    let forms = influence_forms(gram, p, method)?;
    let rows = draws
        .tuples()
        .zip(counts)
        .map(|((terms, _), &m)| (terms, m));
    let se = delta_se(&forms, gram.k, rows, gram.sums[0].to_f64());
    se.iter().all(|v| v.is_finite() && *v > 0.0).then_some(se)
}

/// Replicate `r`'s fit and delta-method standard errors (None when either is missing), from
/// one draw of its counts: the Gram matrix and the errors read the same counts.
fn studentized_replicate(
    draws: &Draws,
    r: usize,
    names: &[String],
    method: Method,
) -> Option<(Fit, Vec<f64>)> {
    let mut counts = Vec::new();
    draws.counts(r, &mut counts);
    let gram = draws.gram_of_counts(&counts);
    let f = fit_gram(&gram, names, method).0?;
    let se = replicate_se(draws, &counts, &gram, names.len(), method)?;
    Some((f, se))
}

/// The report of one segment, its replicates from `source` (drawn only when the segment has a
/// fit). The studentized interval needs [`Source::Tuples`]; with [`Source::Rows`] its bounds
/// are NaN ([`report_batch`] refuses that combination first).
pub fn segment_report(
    seg: &Segment,
    names: &[String],
    request: &Request,
    source: Source<'_>,
) -> SegmentReport {
    let p = names.len();
    let nan = vec![f64::NAN; p];
    let (fit_, correlation, weight_sum, note) = if seg.n < request.min_n.max(p as u64 + 2) {
        let why = format!(
            "{} rows, fewer than the {} needed",
            seg.n,
            request.min_n.max(p as u64 + 2)
        );
        (None, vec![f64::NAN; p], f64::NAN, Some(why))
    } else {
        fit_gram(&seg.gram, names, request.method)
    };
    let mut report = SegmentReport {
        fit: fit_,
        correlation,
        weight_sum,
        note,
        low: nan.clone(),
        high: nan,
        r2_low: f64::NAN,
        r2_high: f64::NAN,
        replicates_used: 0,
    };
    if report.fit.is_none() {
        return report;
    }
    let k = seg.gram.k;
    let studentized = request.interval == Interval::Studentized;
    // Replicate Gram matrices, drawn here from tuples; the studentized interval draws each
    // replicate's counts once below instead, for its Gram matrix and its standard errors.
    let (tuples, draws, replicates, b): (Option<&Tuples>, Option<Draws>, Cow<'_, [Gram]>, usize) =
        match source {
            Source::Tuples {
                tuples,
                key,
                segment,
                b,
            } => {
                let draws = Draws::new(tuples, k, key, segment);
                let grams = if studentized {
                    Vec::new()
                } else {
                    // After Ctrl-C the rest are left empty: the report is discarded (a state's
                    // own replicates never come from here).
                    (0..b)
                        .into_par_iter()
                        .map(|r| match cancel::requested() {
                            true => Gram::new(k),
                            false => draws.gram(r),
                        })
                        .collect()
                };
                (Some(tuples), Some(draws), Cow::Owned(grams), b)
            }
            Source::Rows(grams) => (None, None, Cow::Borrowed(grams), grams.len()),
        };
    if b == 0 {
        return report;
    }
    // Each usable replicate's fit, with its delta-method standard errors when studentized
    // (a replicate without them is left out, as one without a fit).
    let fits: Vec<(Fit, Vec<f64>)> = match (&draws, studentized) {
        (Some(draws), true) => (0..b)
            .into_par_iter()
            .filter(|_| !cancel::requested())
            .filter_map(|r| studentized_replicate(draws, r, names, request.method))
            .collect(),
        // Rows' replicates keep no counts: no standard errors (the combination is refused).
        (None, true) => Vec::new(),
        (_, false) => replicates
            .par_iter()
            .filter(|_| !cancel::requested())
            .filter_map(|g| Some((fit_gram(g, names, request.method).0?, Vec::new())))
            .collect(),
    };
    report.replicates_used = fits.len();
    let estimates = outputs(report.fit.as_ref().expect("checked above"));
    let forms = match request.interval {
        Interval::Bca | Interval::Studentized => influence_forms(&seg.gram, p, request.method),
        Interval::Percentile | Interval::Bc => None,
    };
    let accelerations: Vec<Option<f64>> = match (request.interval, &forms) {
        (Interval::Bc, _) => vec![Some(0.0); p + 1],
        (Interval::Bca, Some(forms)) => match tuples {
            Some(t) => acceleration_from_tuples(forms, t, k),
            None => acceleration_from_replicates(forms, &seg.gram, &replicates),
        },
        _ => vec![None; p + 1],
    };
    // The data's own delta-method standard errors (studentized only; NaN without forms).
    let se: Vec<f64> = match (&forms, &draws) {
        (Some(forms), Some(draws)) if studentized => {
            delta_se(forms, k, draws.tuples(), seg.gram.sums[0].to_f64())
        }
        _ => vec![f64::NAN; p + 1],
    };
    let alpha = (1.0 - request.confidence) / 2.0;
    let bounds = |o: usize| -> (f64, f64) {
        let mut values: Vec<f64> = fits.iter().map(|(f, _)| outputs(f)[o]).collect();
        match request.interval {
            Interval::Percentile => {
                values.sort_by(f64::total_cmp);
                (
                    quantile_sorted(&values, alpha),
                    quantile_sorted(&values, 1.0 - alpha),
                )
            }
            Interval::Studentized => {
                if !(se[o].is_finite() && se[o] > 0.0) || fits.is_empty() {
                    return (f64::NAN, f64::NAN);
                }
                let mut t: Vec<f64> = values
                    .iter()
                    .zip(&fits)
                    .map(|(v, (_, s))| (v - estimates[o]) / s[o])
                    .collect();
                t.sort_by(f64::total_cmp);
                (
                    estimates[o] - se[o] * quantile_sorted(&t, 1.0 - alpha),
                    estimates[o] - se[o] * quantile_sorted(&t, alpha),
                )
            }
            Interval::Bc | Interval::Bca => {
                // BC is BCa with a = 0; an undefined z0 or a falls back to the percentile
                // interval.
                let i = interval_from_bootstrap(
                    values,
                    estimates[o],
                    BootstrapMethod::Bca,
                    request.confidence,
                    accelerations[o],
                );
                (i.low, i.high)
            }
        }
    };
    for j in 0..p {
        (report.low[j], report.high[j]) = bounds(j);
    }
    (report.r2_low, report.r2_high) = bounds(p);
    report
}

/// The result table: one row per (segment, driver), segments in key order. Columns: the key
/// columns (named `key_names`), driver, importance, rescaled (% of R²), sign, coefficient
/// (standardised, full model), correlation, ci_low, ci_high, r2, r2_low, r2_high, n, n_dropped,
/// weight_sum, mc_error, replicates_used, note.
pub fn report_batch(
    state: &DriversState,
    request: &Request,
    driver_names: &[String],
    key_names: &[String],
) -> Result<RecordBatch> {
    let p = state.p;
    if driver_names.len() != p || key_names.len() != state.n_keys {
        return Err(CoreError::InvalidArgument(
            "driver and key names do not match the statistics".into(),
        ));
    }
    if !(request.confidence > 0.0 && request.confidence < 1.0) {
        return Err(CoreError::InvalidArgument(format!(
            "confidence must be between 0 and 1, got {}",
            request.confidence
        )));
    }
    if request.interval == Interval::Studentized
        && state.streams.is_some()
        && state.resampling == Resampling::Rows
    {
        return Err(CoreError::InvalidArgument(format!(
            "bootstrap=\"studentized\" needs the histogram of distinct answer tuples, but these \
             statistics hold more than {} distinct tuples and drew their replicates per row: \
             each replicate's standard error would need every row again. Use \
             \"percentile\", \"bc\" or \"bca\"",
            super::tuples::MAX_TUPLES
        )));
    }
    let keys: Vec<&[u8]> = state.segments.keys().map(Vec::as_slice).collect();
    let b = state.replicates();
    let reports: Vec<SegmentReport> = state
        .segments
        .iter()
        .map(|(key, s)| {
            let source = match (&state.streams, state.resampling) {
                (Some(streams), Resampling::Tuples) => Source::Tuples {
                    tuples: &s.tuples,
                    key: bootstrap_key(streams),
                    segment: key,
                    b,
                },
                _ => Source::Rows(&s.replicates),
            };
            segment_report(s, driver_names, request, source)
        })
        .collect();
    let segs: Vec<&Segment> = state.segments.values().collect();
    let repeated: Vec<u32> = (0..keys.len() as u32)
        .flat_map(|s| std::iter::repeat_n(s, p))
        .collect();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let index = arrow_array::UInt32Array::from(repeated.clone());
    for (name, column) in key_names.iter().zip(key_columns(&keys, state.n_keys)?) {
        let taken = arrow_select::take::take(column.as_ref(), &index, None)?;
        fields.push(Field::new(name, taken.data_type().clone(), true));
        columns.push(taken);
    }
    let per_driver = |f: &dyn Fn(&SegmentReport, &Segment, usize) -> f64| -> Vec<f64> {
        repeated
            .iter()
            .enumerate()
            .map(|(i, &s)| f(&reports[s as usize], segs[s as usize], i % p))
            .collect()
    };
    let fitted = |r: &SegmentReport, g: &dyn Fn(&Fit) -> f64| r.fit.as_ref().map_or(f64::NAN, g);
    let importance = per_driver(&|r, _, j| fitted(r, &|f| f.importance[j]));
    let rescaled = per_driver(&|r, _, j| fitted(r, &|f| 100.0 * f.importance[j] / f.r2));
    let coefficient = per_driver(&|r, _, j| fitted(r, &|f| f.coefficient[j]));
    let sign: Vec<Option<i8>> = coefficient
        .iter()
        .map(|&c| (!c.is_nan()).then(|| c.signum() as i8 * (c != 0.0) as i8))
        .collect();
    let f64s: Vec<(&str, Vec<f64>)> = vec![
        ("importance", importance),
        ("rescaled", rescaled),
        ("coefficient", coefficient),
        ("correlation", per_driver(&|r, _, j| r.correlation[j])),
        ("ci_low", per_driver(&|r, _, j| r.low[j])),
        ("ci_high", per_driver(&|r, _, j| r.high[j])),
        ("r2", per_driver(&|r, _, _| fitted(r, &|f| f.r2))),
        ("r2_low", per_driver(&|r, _, _| r.r2_low)),
        ("r2_high", per_driver(&|r, _, _| r.r2_high)),
        ("weight_sum", per_driver(&|r, _, _| r.weight_sum)),
        (
            "mc_error",
            per_driver(&|r, _, j| {
                r.fit
                    .as_ref()
                    .and_then(|f| f.mc_error.as_ref())
                    .map_or(f64::NAN, |e| e[j])
            }),
        ),
    ];
    let names: Vec<&str> = repeated
        .iter()
        .enumerate()
        .map(|(i, _)| driver_names[i % p].as_str())
        .collect();
    fields.push(Field::new("driver", arrow_schema::DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from(names)));
    let mut f64s = f64s.into_iter();
    for (name, values) in f64s.by_ref().take(3) {
        fields.push(Field::new(name, arrow_schema::DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(values)));
    }
    fields.push(Field::new("sign", arrow_schema::DataType::Int8, true));
    columns.push(Arc::new(Int8Array::from(sign)));
    for (name, values) in f64s {
        fields.push(Field::new(name, arrow_schema::DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(values)));
    }
    let counts = |f: &dyn Fn(&SegmentReport, &Segment) -> u64| -> UInt64Array {
        repeated
            .iter()
            .map(|&s| f(&reports[s as usize], segs[s as usize]))
            .collect::<Vec<u64>>()
            .into()
    };
    for (name, values) in [
        ("n", counts(&|_, s| s.n)),
        ("n_dropped", counts(&|_, s| s.dropped)),
        ("replicates_used", counts(&|r, _| r.replicates_used as u64)),
    ] {
        fields.push(Field::new(name, arrow_schema::DataType::UInt64, false));
        columns.push(Arc::new(values));
    }
    let notes: Vec<Option<&str>> = repeated
        .iter()
        .map(|&s| reports[s as usize].note.as_deref())
        .collect();
    fields.push(Field::new("note", arrow_schema::DataType::Utf8, true));
    columns.push(Arc::new(StringArray::from(notes)));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

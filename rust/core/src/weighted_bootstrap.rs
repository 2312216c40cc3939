//! The bootstrap of weighted responses, exact on a histogram of (weight, bucket) cells.
//!
//! A weighted statistic depends on the respondents only through how many of them have each
//! (weight, answer) pair, so resampling n respondents with replacement is again one multinomial
//! draw over those cells. The cells come from grouping the rows by their segment keys plus the
//! weight (an ordinary unweighted aggregation with the weight as one more key); the cost is
//! O(resamples × distinct cells) per segment — small when weights take few values
//! (post-stratification cells), up to O(resamples × n) when every weight is distinct, which is
//! still exactly the respondent bootstrap.

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::Array;

use rand::RngCore;
use rand_distr::{Distribution, Poisson};

use crate::bootstrap::{
    bootstrap_counts, generate, interval_from_bootstrap, BootstrapInterval, BootstrapSpec,
};
use crate::error::{CoreError, Result};
use crate::keyed_tallies::Grouped;
use crate::metric::MetricSpec;

/// One segment's cells: per distinct weight, the counts per reduced bucket.
#[derive(Clone, Debug, Default)]
pub struct WeightCells {
    /// The distinct weights, ascending.
    pub weights: Vec<f64>,
    /// `counts[j * buckets + b]`: respondents with weight `weights[j]` in bucket `b`.
    pub counts: Vec<u64>,
}

/// Splits a grouping by (keys…, weight) into one `WeightCells` per segment, in key order (the same
/// order as the grouping by keys alone, since rows sort by their key columns first).
pub fn weight_cells_by_segment(
    spec: &MetricSpec,
    grouped: &Grouped,
    n_keys: usize,
) -> Result<Vec<WeightCells>> {
    let Some(weight_col) = grouped.keys.get(n_keys) else {
        return Err(CoreError::InvalidArgument(
            "weight cells need the weight as the last key".into(),
        ));
    };
    let weights = arrow_cast::cast(weight_col, &arrow_schema::DataType::Float64)?;
    let weights = weights.as_primitive::<Float64Type>();
    let runs = grouped.segments_by_prefix(n_keys)?;
    let mut out = vec![WeightCells::default(); runs.segments()];
    for g in 0..grouped.tallies.segments() {
        let cell = &mut out[runs.segment_of[g]];
        let reduced = spec.reduced_counts(grouped.tallies.counts(g));
        if weights.is_null(g) || reduced.iter().all(|&c| c == 0) {
            continue; // rows with only missing/invalid scores carry no cell
        }
        cell.weights.push(weights.value(g));
        cell.counts.extend(reduced);
    }
    Ok(out)
}

/// All segments' cells together (for the overall estimate): cells of equal weight merged and
/// ordered by weight, exactly as an unsegmented grouping lays them out, so the overall interval
/// of a segmented call is bit-identical to the unsegmented call's.
pub fn pool_weight_cells(cells: &[WeightCells]) -> WeightCells {
    let mut by_weight: std::collections::BTreeMap<i64, (f64, Vec<u64>)> = Default::default();
    for c in cells {
        let buckets = c.counts.len() / c.weights.len().max(1);
        for (j, &w) in c.weights.iter().enumerate() {
            // Total order of f64 as an integer key (weights are finite and ≥ 0 here).
            let entry = by_weight
                .entry(w.to_bits() as i64)
                .or_insert_with(|| (w, vec![0; buckets]));
            for (acc, &n) in entry
                .1
                .iter_mut()
                .zip(&c.counts[j * buckets..(j + 1) * buckets])
            {
                *acc += n;
            }
        }
    }
    WeightCells {
        weights: by_weight.values().map(|(w, _)| *w).collect(),
        counts: by_weight.into_values().flat_map(|(_, c)| c).collect(),
    }
}

/// Above this many cells the exact multinomial (whose BCa jackknife costs O(cells²)) gives way
/// to the Poisson bootstrap with an O(cells) jackknife.
pub const MAX_MULTINOMIAL_CELLS: usize = 4096;

/// The respondent bootstrap of a weighted statistic on one segment's cells: exact multinomial
/// when cells are few, else the Poisson bootstrap (each respondent drawn Poisson(1) times, so a
/// cell of c respondents gets Poisson(c)).
pub fn bootstrap_cells(
    spec: &MetricSpec,
    cells: &WeightCells,
    boot: &BootstrapSpec,
    stream: u64,
) -> BootstrapInterval {
    if crate::cancel::requested() {
        // A cancelled call discards its result: draw nothing.
        return crate::bootstrap::interval_from_bootstrap(
            Vec::new(),
            f64::NAN,
            boot.method,
            boot.confidence,
            None,
        );
    }
    if cells.counts.len() <= MAX_MULTINOMIAL_CELLS {
        multinomial_cells(spec, cells, boot, stream)
    } else {
        poisson_cells(spec, cells, boot, stream)
    }
}

/// Bucket masses Σ x·w of a cell vector.
fn masses(cells: &WeightCells, buckets: usize, x: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut mass = vec![0.0; buckets];
    for (j, w) in cells.weights.iter().enumerate() {
        for (b, m) in mass.iter_mut().enumerate() {
            *m += x(j * buckets + b) * w;
        }
    }
    mass
}

fn poisson_cells(
    spec: &MetricSpec,
    cells: &WeightCells,
    boot: &BootstrapSpec,
    stream: u64,
) -> BootstrapInterval {
    let buckets = cells.counts.len() / cells.weights.len().max(1);
    let observed = masses(cells, buckets, |i| cells.counts[i] as f64);
    let estimate = spec.reduced_statistic(&observed);
    // Poisson(1) by inversion of its CDF against a raw 64-bit draw, scanning up from 0 (two
    // comparisons on average): most cells hold one respondent.
    let thresholds: Vec<u64> = (0..20u32)
        .scan((0.0f64, (-1.0f64).exp()), |(acc, term), k| {
            *acc += *term;
            *term /= (k + 1) as f64;
            Some((*acc * u64::MAX as f64).min(u64::MAX as f64) as u64)
        })
        .collect();
    // Only occupied cells draw: (bucket, weight, respondents).
    let occupied: Vec<(usize, f64, u64)> = cells
        .weights
        .iter()
        .enumerate()
        .flat_map(|(j, &w)| (0..buckets).map(move |b| (j, b, w)))
        .filter_map(|(j, b, w)| {
            let c = cells.counts[j * buckets + b];
            (c > 0).then_some((b, w, c))
        })
        .collect();
    let draws = generate(
        boot.n_resamples,
        boot.seed,
        stream ^ POISSON_STREAM,
        buckets,
        |rng, mass| {
            mass.fill(0.0);
            for &(b, w, c) in &occupied {
                let k = if c == 1 {
                    let u = rng.next_u64();
                    thresholds.iter().take_while(|&&t| t < u).count() as u64
                } else {
                    Poisson::new(c as f64).map_or(c, |p| p.sample(rng) as u64)
                };
                mass[b] += k as f64 * w;
            }
            spec.reduced_statistic(mass)
        },
    );
    let acceleration = cell_jackknife_acceleration(spec, cells, buckets, &observed);
    interval_from_bootstrap(draws, estimate, boot.method, boot.confidence, acceleration)
}

/// Keeps Poisson draws apart from the multinomial's for the same seed and segment.
const POISSON_STREAM: u64 = 0x706f_6973_736f_6e00;

/// BCa acceleration from the jackknife over respondents, in O(cells): leaving out one
/// respondent of cell (j, b) only lowers bucket b's mass by w_j.
fn cell_jackknife_acceleration(
    spec: &MetricSpec,
    cells: &WeightCells,
    buckets: usize,
    observed: &[f64],
) -> Option<f64> {
    let mut values: Vec<(f64, f64)> = Vec::new(); // (leave-one-out value, respondents)
    let mut mass = observed.to_vec();
    for (j, w) in cells.weights.iter().enumerate() {
        for b in 0..buckets {
            let c = cells.counts[j * buckets + b];
            if c > 0 {
                mass[b] -= w;
                values.push((spec.reduced_statistic(&mass), c as f64));
                mass[b] += w;
            }
        }
    }
    let total: f64 = values.iter().map(|v| v.1).sum();
    let mean = values.iter().map(|(t, c)| t * c).sum::<f64>() / total;
    let (num, den) = values.iter().fold((0.0, 0.0), |(n, d), (t, c)| {
        let dev = mean - t;
        (n + c * dev.powi(3), d + c * dev * dev)
    });
    let a = num / (6.0 * den.powf(1.5));
    (den > 0.0 && a.is_finite()).then_some(a)
}

fn multinomial_cells(
    spec: &MetricSpec,
    cells: &WeightCells,
    boot: &BootstrapSpec,
    stream: u64,
) -> BootstrapInterval {
    let buckets = spec.reduced_counts(&vec![0; spec.scale.points()]).len();
    let statistic = |x: &[f64]| spec.reduced_statistic(&masses(cells, buckets, |i| x[i]));
    bootstrap_counts(&cells.counts, &statistic, boot, stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::BootstrapMethod;

    #[test]
    fn unit_weights_match_the_unweighted_bootstrap() {
        let spec = MetricSpec::nps();
        let boot = BootstrapSpec {
            n_resamples: 2000,
            method: BootstrapMethod::Percentile,
            confidence: 0.95,
            seed: 5,
        };
        let cells = WeightCells {
            weights: vec![1.0],
            counts: vec![20, 30, 50],
        };
        let weighted = bootstrap_cells(&spec, &cells, &boot, 9);
        let stat = |m: &[f64]| spec.reduced_statistic(m);
        let plain = bootstrap_counts(&[20, 30, 50], &stat, &boot, 9);
        assert_eq!(weighted.low.to_bits(), plain.low.to_bits());
        assert_eq!(weighted.high.to_bits(), plain.high.to_bits());
    }

    #[test]
    fn poisson_path_agrees_with_multinomial() {
        // 3000 distinct weights x 2 buckets = 6000 cells: the Poisson path. Duplicating the
        // cells' weights into few values gives the multinomial path on the same statistic.
        let spec = MetricSpec::share(crate::scale::Scale::new(0, 1).unwrap(), (1, 1)).unwrap();
        let boot = BootstrapSpec {
            n_resamples: 4000,
            method: BootstrapMethod::Bca,
            confidence: 0.95,
            seed: 3,
        };
        let n = 3000;
        let weights: Vec<f64> = (0..n)
            .map(|i| 1.0 + (i % 2) as f64 + i as f64 * 1e-9)
            .collect();
        let counts: Vec<u64> = (0..n)
            .flat_map(|i| if i % 3 == 0 { [0, 1] } else { [1, 0] })
            .collect();
        let many = WeightCells { weights, counts };
        let poisson = bootstrap_cells(&spec, &many, &boot, 1);
        // Same respondents with weights rounded to {1, 2}: the statistic barely moves.
        let mut few = WeightCells {
            weights: vec![1.0, 2.0],
            counts: vec![0; 4],
        };
        for i in 0..n {
            let j = i % 2;
            let b = if i % 3 == 0 { 1 } else { 0 };
            few.counts[j * 2 + b] += 1;
        }
        let exact = bootstrap_cells(&spec, &few, &boot, 1);
        assert!((poisson.estimate - exact.estimate).abs() < 1e-3);
        assert!((poisson.std_error - exact.std_error).abs() < 0.1 * exact.std_error);
        assert!(
            (poisson.low - exact.low).abs() < 0.5,
            "{} vs {}",
            poisson.low,
            exact.low
        );
        assert!(
            (poisson.high - exact.high).abs() < 0.5,
            "{} vs {}",
            poisson.high,
            exact.high
        );
    }

    #[test]
    fn weights_shift_the_estimate() {
        let spec = MetricSpec::nps();
        let boot = BootstrapSpec {
            n_resamples: 500,
            method: BootstrapMethod::Bca,
            confidence: 0.9,
            seed: 1,
        };
        // Weight 1: 10 detractors; weight 3: 10 promoters -> NPS = 100·(30 − 10)/40 = 50.
        let cells = WeightCells {
            weights: vec![1.0, 3.0],
            counts: vec![10, 0, 0, 0, 0, 10],
        };
        let r = bootstrap_cells(&spec, &cells, &boot, 2);
        assert!((r.estimate - 50.0).abs() < 1e-12);
        assert!(r.low < 50.0 && r.high > 50.0);
    }
}

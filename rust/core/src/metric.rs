//! What a metric computes from a distribution over scale values.
//!
//! Every metric is a statistic of the per-value masses (counts, or weight sums when weighted):
//! a net score (share high − share low, e.g. NPS), a share (top/bottom-k-box, CSAT, CES 2.0),
//! or a mean. A new metric is a preset here, not a new pipeline.

use std::ops::Range;

use crate::error::{CoreError, Result};
use crate::scale::Scale;

#[derive(Clone, Debug, PartialEq)]
/// What a metric computes from the shares of the scale points.
pub enum Kind {
    /// 100 × (share in `positive` − share in `negative`), in [−100, 100].
    Net {
        /// Codes counted as positive (promoters).
        positive: Range<usize>,
        /// Codes counted as negative (detractors).
        negative: Range<usize>,
    },
    /// 100 × share in `hit`, in [0, 100].
    Share {
        /// Codes counted as hits.
        hit: Range<usize>,
    },
    /// Mean score, in scale units.
    Mean,
}

/// A metric on a scale. Ranges are codes (positions on the scale), not score values.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSpec {
    /// The rating scale.
    pub scale: Scale,
    /// What is computed on it.
    pub kind: Kind,
}

impl MetricSpec {
    /// Net score with inclusive value ranges, e.g. NPS: positive 9..=10, negative 0..=6.
    pub fn net(scale: Scale, positive: (i64, i64), negative: (i64, i64)) -> Result<Self> {
        let positive = nonempty(&scale, positive, "positive bucket")?;
        let negative = nonempty(&scale, negative, "negative bucket")?;
        if positive.start < negative.end && negative.start < positive.end {
            return Err(CoreError::InvalidArgument(
                "the positive and negative buckets overlap".into(),
            ));
        }
        Ok(Self {
            scale,
            kind: Kind::Net { positive, negative },
        })
    }

    /// Share of answers within the inclusive value range.
    pub fn share(scale: Scale, hit: (i64, i64)) -> Result<Self> {
        let hit = nonempty(&scale, hit, "share bucket")?;
        Ok(Self {
            scale,
            kind: Kind::Share { hit },
        })
    }

    /// The mean score on `scale`.
    pub fn mean(scale: Scale) -> Self {
        Self {
            scale,
            kind: Kind::Mean,
        }
    }

    /// Share of the `k` highest (`top`) or lowest scale points: a top- or bottom-box share.
    pub fn box_share(scale: Scale, k: i64, top: bool) -> Result<Self> {
        Self::share(scale, box_range(scale, k, top)?)
    }

    /// Net Promoter Score: 0-10, promoters 9-10, detractors 0-6.
    pub fn nps() -> Self {
        Self::net(Scale { low: 0, high: 10 }, (9, 10), (0, 6)).expect("preset is valid")
    }

    /// The range the metric's value lives in (intervals are clipped to it).
    pub fn bounds(&self) -> (f64, f64) {
        match self.kind {
            Kind::Net { .. } => (-100.0, 100.0),
            Kind::Share { .. } => (0.0, 100.0),
            Kind::Mean => (self.scale.low as f64, self.scale.high as f64),
        }
    }

    /// The metric's value from per-code masses (length = scale points). NaN when the total is 0.
    pub fn statistic(&self, mass: &[f64]) -> f64 {
        let total: f64 = mass.iter().sum();
        if total <= 0.0 {
            return f64::NAN;
        }
        match &self.kind {
            Kind::Net { positive, negative } => {
                let pos: f64 = mass[positive.clone()].iter().sum();
                let neg: f64 = mass[negative.clone()].iter().sum();
                100.0 * (pos - neg) / total
            }
            Kind::Share { hit } => 100.0 * mass[hit.clone()].iter().sum::<f64>() / total,
            Kind::Mean => {
                let weighted: f64 = mass
                    .iter()
                    .enumerate()
                    .map(|(c, m)| m * self.scale.value(c) as f64)
                    .sum();
                weighted / total
            }
        }
    }

    /// Bucket totals: Net → [negative, neutral, positive]; Share → [miss, hit]; Mean → none.
    pub fn buckets(&self, counts: &[u64]) -> Vec<u64> {
        let mut out = vec![0; self.n_buckets()];
        self.fill_buckets(counts, &mut out);
        out
    }

    /// How many buckets [`MetricSpec::buckets`] returns.
    pub fn n_buckets(&self) -> usize {
        match &self.kind {
            Kind::Net { .. } => 3,
            Kind::Share { .. } => 2,
            Kind::Mean => 0,
        }
    }

    /// [`MetricSpec::buckets`] written into `out` (of [`MetricSpec::n_buckets`] items), for
    /// loops over many segments that should not allocate per segment.
    pub fn fill_buckets(&self, counts: &[u64], out: &mut [u64]) {
        let total: u64 = counts.iter().sum();
        match &self.kind {
            Kind::Net { positive, negative } => {
                let pos: u64 = counts[positive.clone()].iter().sum();
                let neg: u64 = counts[negative.clone()].iter().sum();
                out.copy_from_slice(&[neg, total - pos - neg, pos]);
            }
            Kind::Share { hit } => {
                let h: u64 = counts[hit.clone()].iter().sum();
                out.copy_from_slice(&[total - h, h]);
            }
            Kind::Mean => {}
        }
    }
}

impl MetricSpec {
    /// The smallest histogram the statistic depends on: buckets for net scores and shares
    /// (3 and 2 values), every scale point for a mean. Resampling it is as exact as resampling
    /// all points, and cheaper.
    pub fn reduced_counts(&self, counts: &[u64]) -> Vec<u64> {
        match self.kind {
            Kind::Mean => counts.to_vec(),
            _ => self.buckets(counts),
        }
    }

    /// Per-point masses (counts or weight sums) summed the same way as `reduced_counts`.
    pub fn reduced_mass(&self, mass: &[f64]) -> Vec<f64> {
        let sum = |r: &Range<usize>| mass[r.clone()].iter().sum::<f64>();
        let total: f64 = mass.iter().sum();
        match &self.kind {
            Kind::Mean => mass.to_vec(),
            Kind::Net { positive, negative } => {
                let (pos, neg) = (sum(positive), sum(negative));
                vec![neg, total - pos - neg, pos]
            }
            Kind::Share { hit } => {
                let h = sum(hit);
                vec![total - h, h]
            }
        }
    }

    /// The statistic on masses laid out as [`reduced_counts`](Self::reduced_counts).
    pub fn reduced_statistic(&self, mass: &[f64]) -> f64 {
        let total: f64 = mass.iter().sum();
        if total <= 0.0 {
            return f64::NAN;
        }
        match self.kind {
            Kind::Net { .. } => 100.0 * (mass[2] - mass[0]) / total,
            Kind::Share { .. } => 100.0 * mass[1] / total,
            Kind::Mean => self.statistic(mass),
        }
    }
}

/// The inclusive range of the `k` highest (`top`) or lowest scale points (the bucket of a top-
/// or bottom-box share); `InvalidArgument` unless 1 ≤ k ≤ the scale's points.
pub fn box_range(scale: Scale, k: i64, top: bool) -> Result<(i64, i64)> {
    let points = scale.points() as i64;
    if !(1..=points).contains(&k) {
        return Err(CoreError::InvalidArgument(format!(
            "{} must be an int in 1..{points}",
            if top { "top" } else { "bottom" }
        )));
    }
    Ok(if top {
        (scale.high - k + 1, scale.high)
    } else {
        (scale.low, scale.low + k - 1)
    })
}

impl MetricSpec {
    /// The integer key the reduced statistic depends on, for a fixed total (see
    /// `bootstrap::Lattice`): promoters − detractors for a net score, hits for a share. None for
    /// a mean, which is resampled through its values.
    pub fn reduced_lattice_weights(&self) -> Option<&'static [i64]> {
        match self.kind {
            Kind::Net { .. } => Some(&[-1, 0, 1]),
            Kind::Share { .. } => Some(&[0, 1]),
            Kind::Mean => None,
        }
    }

    /// [`reduced_statistic`](Self::reduced_statistic) of any reduced counts with total `total`
    /// and key `key`, with the same arithmetic (the total and the key are exact in f64 up to
    /// 2^53, so the result is the same bit for bit).
    pub fn reduced_lattice_value(&self, key: i64, total: u64) -> f64 {
        match self.kind {
            Kind::Net { .. } | Kind::Share { .. } if total > 0 => 100.0 * key as f64 / total as f64,
            _ => f64::NAN,
        }
    }
}

fn nonempty(scale: &Scale, (lo, hi): (i64, i64), what: &str) -> Result<Range<usize>> {
    if lo > hi || lo < scale.low || hi > scale.high {
        return Err(CoreError::InvalidArgument(format!(
            "{what} {lo}..{hi} must be a non-empty range inside the scale {}..{}",
            scale.low, scale.high
        )));
    }
    Ok(scale.codes(lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_reference() {
        let spec = MetricSpec::nps();
        let mut mass = vec![0.0; 11];
        mass[10] = 50.0;
        mass[7] = 30.0;
        mass[0] = 20.0;
        assert_eq!(spec.statistic(&mass), 30.0);
        assert_eq!(
            spec.buckets(&[20, 0, 0, 0, 0, 0, 0, 30, 0, 0, 50]),
            vec![20, 30, 50]
        );
    }

    #[test]
    fn share_and_mean() {
        let s = Scale::new(1, 5).unwrap();
        let csat = MetricSpec::share(s, (4, 5)).unwrap();
        assert_eq!(csat.statistic(&[1.0, 1.0, 0.0, 1.0, 1.0]), 50.0);
        assert_eq!(
            MetricSpec::mean(s).statistic(&[1.0, 0.0, 0.0, 0.0, 1.0]),
            3.0
        );
        assert!(MetricSpec::mean(s).statistic(&[0.0; 5]).is_nan());
        assert!(MetricSpec::share(s, (4, 9)).is_err());
        assert!(MetricSpec::net(s, (3, 5), (1, 3)).is_err());
    }

    /// The lattice contract: the reduced statistic of every count vector equals the value at
    /// its key, bit for bit, and the value grows with the key.
    #[test]
    fn lattice_value_is_the_reduced_statistic() {
        let s = Scale::new(1, 5).unwrap();
        for spec in [MetricSpec::nps(), MetricSpec::share(s, (4, 5)).unwrap()] {
            let weights = spec.reduced_lattice_weights().unwrap();
            let k = weights.len();
            for total in [1u64, 2, 3, 7, 10, 99, 1000, 12_345, (1 << 53) - 1] {
                let mut previous = f64::NEG_INFINITY;
                let step = (total / 97).max(1);
                for key_part in (0..=total).step_by(step as usize) {
                    // Vectors [a, total − a − b, b] (net) or [total − h, h] (share).
                    let counts: Vec<u64> = if k == 3 {
                        let b = key_part;
                        let a = (total - b) / 3;
                        vec![a, total - a - b, b]
                    } else {
                        vec![total - key_part, key_part]
                    };
                    let key: i64 = counts
                        .iter()
                        .zip(weights)
                        .map(|(&c, &w)| c as i64 * w)
                        .sum();
                    let mass: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
                    let value = spec.reduced_lattice_value(key, total);
                    assert_eq!(
                        value.to_bits(),
                        spec.reduced_statistic(&mass).to_bits(),
                        "{counts:?}"
                    );
                    if k == 2 {
                        assert!(value >= previous, "non-decreasing in the key");
                        previous = value;
                    }
                }
                // Net: every key from −total to total, in order.
                if k == 3 && total <= 1000 {
                    let mut previous = f64::NEG_INFINITY;
                    for key in -(total as i64)..=total as i64 {
                        let (a, b) = if key < 0 {
                            (-key as u64, 0)
                        } else {
                            (0, key as u64)
                        };
                        let mass = [a as f64, (total - a - b) as f64, b as f64];
                        let value = spec.reduced_lattice_value(key, total);
                        assert_eq!(value.to_bits(), spec.reduced_statistic(&mass).to_bits());
                        assert!(value >= previous);
                        previous = value;
                    }
                }
            }
        }
        assert!(MetricSpec::mean(s).reduced_lattice_weights().is_none());
    }
}

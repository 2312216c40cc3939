//! Where the time of the segmented bootstrap goes (the benchmark's scenario: 100 segments of
//! ≈ 10,000 NPS responses × 10,000 BCa resamples), phase by phase, single-threaded:
//! `cargo test --release -p cxmetrics-core --lib bootstrap_phases -- --ignored --nocapture`.

use std::time::Instant;

use super::interval::{interval_from_distribution, jackknife_terms};
use super::sampler::Multinomial;
use super::*;

fn nps(c: &[f64]) -> f64 {
    let n: f64 = c.iter().sum();
    if n <= 0.0 {
        f64::NAN
    } else {
        100.0 * (c[2] - c[0]) / n
    }
}

/// Reduced NPS counts of 100 segments near [0.37, 0.30, 0.33] × 10,000 (deterministic).
fn segments() -> Vec<[u64; 3]> {
    (0..100u64)
        .map(|s| {
            [
                3_700 + (s * 37) % 120,
                3_000 + (s * 53) % 90,
                3_300 + (s * 71) % 110,
            ]
        })
        .collect()
}

#[test]
#[ignore]
fn bootstrap_phases() {
    let segs = segments();
    let b = 10_000;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for round in 0..3 {
            let t = Instant::now();
            let samplers: Vec<Multinomial> =
                segs.iter().map(|c| Multinomial::new(c).unwrap()).collect();
            let build = t.elapsed();
            let t = Instant::now();
            let dists: Vec<Vec<f64>> = samplers
                .iter()
                .enumerate()
                .map(|(s, m)| draw_one(m, 3, &nps, b, 1, s as u64))
                .collect();
            let draw = t.elapsed();
            let t = Instant::now();
            let mut sorted = dists.clone();
            for d in &mut sorted {
                d.sort_unstable_by(f64::total_cmp);
            }
            let sort = t.elapsed();
            let t = Instant::now();
            let mut jack = 0.0;
            for c in &segs {
                jack += jackknife_terms(c, &nps, 0.0).0;
            }
            let jackknife = t.elapsed();
            let t = Instant::now();
            let mut check = 0.0;
            for (d, c) in dists.into_iter().zip(&segs) {
                let est = nps(&c.map(|x| x as f64));
                check +=
                    interval_from_distribution(d, est, BootstrapMethod::Bca, 0.95, || Some(0.0))
                        .low;
            }
            let interval = t.elapsed();
            let t = Instant::now();
            let lattice_sum: f64 = segs
                .iter()
                .enumerate()
                .map(|(s, c)| {
                    let total: u64 = c.iter().sum();
                    let value = |key: i64| 100.0 * key as f64 / total as f64;
                    let lattice = Lattice {
                        weights: &[-1, 0, 1],
                        value: &value,
                    };
                    bootstrap_lattice(
                        c,
                        &nps,
                        &lattice,
                        &BootstrapSpec {
                            n_resamples: b,
                            method: BootstrapMethod::Bca,
                            confidence: 0.95,
                            seed: 1,
                        },
                        s as u64,
                    )
                    .low
                })
                .sum();
            let lattice_time = t.elapsed();
            let t = Instant::now();
            let whole: f64 = segs
                .iter()
                .enumerate()
                .map(|(s, c)| {
                    bootstrap_counts(
                        c,
                        &nps,
                        &BootstrapSpec {
                            n_resamples: b,
                            method: BootstrapMethod::Bca,
                            confidence: 0.95,
                            seed: 1,
                        },
                        s as u64,
                    )
                    .low
                })
                .sum();
            let total = t.elapsed();
            println!(
                "round {round}: build {build:?}, draw {draw:?}, sort {sort:?}, jackknife \
                 {jackknife:?}, interval (sort+BCa) {interval:?}; bootstrap_counts ×100 {total:?}, \
                 bootstrap_lattice ×100 {lattice_time:?} ({check:.3} {jack:.3e} {whole:.3} \
                 {lattice_sum:.3})"
            );
        }
    });
}

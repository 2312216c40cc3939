use super::interval::{midrank_proportion, quantile_sorted};
use super::sampler::Multinomial;
use super::*;
use crate::streams::block_rng;

/// NPS on [detractors, passives, promoters].
fn nps(c: &[f64]) -> f64 {
    let n: f64 = c.iter().sum();
    if n == 0.0 {
        f64::NAN
    } else {
        100.0 * (c[2] - c[0]) / n
    }
}

/// Mean of the scale values 0, 1, 2, … weighted by the counts.
fn mean_value(c: &[f64]) -> f64 {
    let n: f64 = c.iter().sum();
    let s: f64 = c.iter().enumerate().map(|(j, &x)| j as f64 * x).sum();
    if n == 0.0 {
        f64::NAN
    } else {
        s / n
    }
}

fn spec(method: BootstrapMethod, n_resamples: usize) -> BootstrapSpec {
    BootstrapSpec {
        n_resamples,
        method,
        confidence: 0.95,
        seed: 20240501,
    }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn interval_bits(iv: &BootstrapInterval) -> [u64; 4] {
    [iv.low, iv.high, iv.estimate, iv.std_error].map(f64::to_bits)
}

/// Per-category mean, variance and the covariance of the last two categories over `draws`
/// multinomial draws. Moments are accumulated around the theoretical means, since at n = 1e12
/// raw second moments would cancel catastrophically.
fn draw_moments(counts: &[u64], draws: usize, seed: u64) -> (Vec<f64>, Vec<f64>, f64) {
    let m = Multinomial::new(counts).unwrap();
    let total: u64 = counts.iter().sum();
    let k = counts.len();
    let centre: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let mut rng = block_rng(seed, 7, 0);
    let mut out = vec![0.0; k];
    let (mut s1, mut s2) = (vec![0.0; k], vec![0.0; k]);
    let mut cross = 0.0;
    let (ci, cj) = (k - 2, k - 1);
    for _ in 0..draws {
        m.draw(&mut rng, &mut out);
        assert_eq!(out.iter().sum::<f64>(), total as f64, "a draw must keep n");
        for j in 0..k {
            assert_eq!(out[j].fract(), 0.0);
            if counts[j] == 0 {
                assert_eq!(out[j], 0.0, "an empty category stays empty");
            }
            let x = out[j] - centre[j];
            s1[j] += x;
            s2[j] += x * x;
        }
        cross += (out[ci] - centre[ci]) * (out[cj] - centre[cj]);
    }
    let r = draws as f64;
    let shift: Vec<f64> = s1.iter().map(|s| s / r).collect();
    let var: Vec<f64> = (0..k).map(|j| s2[j] / r - shift[j] * shift[j]).collect();
    let cov = cross / r - shift[ci] * shift[cj];
    let mean = (0..k).map(|j| centre[j] + shift[j]).collect();
    (mean, var, cov)
}

#[test]
fn multinomial_moments_match_theory() {
    // Mixes categories on both binomial paths (n·p below and above 10) and an empty one.
    for (counts, draws) in [
        (vec![5u64, 0, 20, 75, 100], 40_000usize),
        (
            vec![7, 1_000_000_000_000, 2, 0, 300_000_000_000, 200_000_000_000],
            20_000,
        ),
    ] {
        let n: u64 = counts.iter().sum();
        let nf = n as f64;
        let (mean, var, cov) = draw_moments(&counts, draws, 11);
        let r = draws as f64;
        for j in 0..counts.len() {
            let p = counts[j] as f64 / nf;
            let (m_th, v_th) = (nf * p, nf * p * (1.0 - p));
            if v_th == 0.0 {
                assert_eq!(var[j], 0.0);
                continue;
            }
            let se_mean = (v_th / r).sqrt();
            assert!(
                (mean[j] - m_th).abs() < 5.0 * se_mean,
                "mean {j}: {} vs {m_th} (counts {counts:?})",
                mean[j]
            );
            // sd of a sample variance is about v·sqrt(2/R) (plus excess kurtosis, small here).
            assert!(
                (var[j] / v_th - 1.0).abs() < 5.0 * (3.0 / r).sqrt(),
                "variance {j}: {} vs {v_th}",
                var[j]
            );
        }
        let k = counts.len();
        let (pa, pb) = (counts[k - 2] as f64 / nf, counts[k - 1] as f64 / nf);
        let cov_th = -nf * pa * pb;
        // sd of a sample covariance ≤ sqrt(var_a · var_b / R) · sqrt(2) (bivariate normal).
        let se_cov = (2.0 * nf * pa * (1.0 - pa) * nf * pb * (1.0 - pb) / r).sqrt();
        assert!(
            (cov - cov_th).abs() < 5.0 * se_cov,
            "covariance {cov} vs {cov_th}"
        );
    }
}

#[test]
fn multinomial_law_is_exact_for_small_n() {
    // Resampling 3 rows from 3 distinct rows: the 10 possible histograms have probabilities
    // 3!/(a! b! c!) / 27. Pearson chi-square of 200 000 draws against them.
    let m = Multinomial::new(&[1, 1, 1]).unwrap();
    let mut rng = block_rng(3, 1, 0);
    let mut out = [0.0; 3];
    let mut freq = std::collections::HashMap::new();
    let draws = 200_000;
    for _ in 0..draws {
        m.draw(&mut rng, &mut out);
        *freq.entry(out.map(|x| x as u8)).or_insert(0u32) += 1;
    }
    let fact = |x: u8| [1.0, 1.0, 2.0, 6.0][x as usize];
    let mut chi2 = 0.0;
    let mut cells = 0;
    for a in 0..=3u8 {
        for b in 0..=(3 - a) {
            let c = 3 - a - b;
            let p = 6.0 / (fact(a) * fact(b) * fact(c)) / 27.0;
            let expected = p * draws as f64;
            let observed = *freq.get(&[a, b, c]).unwrap_or(&0) as f64;
            chi2 += (observed - expected).powi(2) / expected;
            cells += 1;
        }
    }
    assert_eq!(cells, 10);
    assert_eq!(freq.len(), 10, "every histogram must occur");
    // 99.9% point of chi-square with 9 degrees of freedom.
    assert!(chi2 < 27.88, "chi-square {chi2}");
}

#[test]
fn bit_identical_for_any_thread_count() {
    let counts = [20u64, 30, 50];
    let other = [35u64, 25, 40];
    let b = 3 * BLOCK_SIZE + 17; // a partial last block too
    let run = || {
        (
            bootstrap_distribution(&counts, &nps, b, 99, 5),
            bootstrap_counts(&counts, &nps, &spec(BootstrapMethod::Bca, b), 5),
            bootstrap_difference(&counts, &other, &nps, &spec(BootstrapMethod::Basic, b), 5),
        )
    };
    let (d1, i1, x1) = in_pool(1, run);
    for threads in [2, 8] {
        let (d, i, x) = in_pool(threads, run);
        assert_eq!(bits(&d), bits(&d1), "{threads} threads");
        assert_eq!(interval_bits(&i), interval_bits(&i1), "{threads} threads");
        assert_eq!(interval_bits(&x), interval_bits(&x1), "{threads} threads");
    }
}

#[test]
fn streams_and_seeds_are_independent_and_prefix_stable() {
    let counts = [20u64, 30, 50];
    let base = bootstrap_distribution(&counts, &nps, 1000, 1, 42);
    assert_ne!(
        bits(&base),
        bits(&bootstrap_distribution(&counts, &nps, 1000, 1, 43))
    );
    assert_ne!(
        bits(&base),
        bits(&bootstrap_distribution(&counts, &nps, 1000, 2, 42))
    );
    // Resample i depends only on its block: more resamples extend, never reshuffle.
    let short = bootstrap_distribution(&counts, &nps, 300, 1, 42);
    assert_eq!(bits(&short), bits(&base[..300]));
    // Blocks draw from different RNGs.
    assert_ne!(
        bits(&base[..BLOCK_SIZE]),
        bits(&base[BLOCK_SIZE..2 * BLOCK_SIZE])
    );
}

#[test]
fn quantile_is_numpy_linear() {
    let x: Vec<f64> = (0..100).map(f64::from).collect();
    assert!((quantile_sorted(&x, 0.05) - 4.95).abs() < 1e-12);
    assert!((quantile_sorted(&x, 0.95) - 94.05).abs() < 1e-12);
    assert_eq!(quantile_sorted(&x, 0.0), 0.0);
    assert_eq!(quantile_sorted(&x, 1.0), 99.0);
    // Ties come back exactly, whatever the interpolation weight.
    let tied = [0.1, 0.3, 0.3, 0.3, 0.7];
    for p in [0.3, 0.37, 0.5, 0.61, 0.75] {
        assert_eq!(quantile_sorted(&tied, p), 0.3);
    }
    assert_eq!(midrank_proportion(&tied[..], 0.3), (1.0 + 4.0) / 10.0);
}

#[test]
fn methods_match_scipy_on_a_known_case() {
    // Data 0,0,1,1,1,2,2,2,2,2 with statistic mean; a fixed bootstrap distribution. Expected
    // values from scipy 1.17.1: stats.bootstrap((data,), np.mean, n_resamples=0,
    // bootstrap_result=<this distribution>, confidence_level=0.9, method=...).
    let counts = [2u64, 3, 5];
    let dist = vec![
        1.0, 1.1, 1.2, 1.2, 1.3, 1.3, 1.3, 1.4, 1.4, 1.5, 1.1, 1.6, 1.3, 1.2, 1.5, 1.4, 0.9, 1.7,
        1.3, 1.2,
    ];
    let est = mean_value(&[2.0, 3.0, 5.0]);
    assert_eq!(est, 1.3);
    let a = jackknife_acceleration(&counts, &mean_value).unwrap();
    assert!((a - -0.03053255015428703).abs() < 1e-14, "a = {a}");

    // statrs' Φ is accurate to about 1e-11 (scipy's ndtr to 1e-16), hence BCa's tolerance.
    let cases = [
        (
            BootstrapMethod::Percentile,
            0.995,
            1.6050000000000002,
            1e-12,
        ),
        (BootstrapMethod::Basic, 0.9949999999999999, 1.605, 1e-12),
        (
            BootstrapMethod::Bca,
            1.004171721221915,
            1.612730474185455,
            1e-10,
        ),
    ];
    for (method, low, high, tol) in cases {
        let iv = interval_from_bootstrap(dist.clone(), est, method, 0.9, Some(a));
        let close = |x: f64, y: f64| (x - y).abs() < tol;
        assert!(
            close(iv.low, low) && close(iv.high, high),
            "{method:?}: {iv:?}"
        );
        assert!(close(iv.std_error, 0.1959457497423847));
        assert_eq!(iv.degenerate, None);
    }
}

#[test]
fn histogram_jackknife_equals_row_jackknife() {
    let counts = [3u64, 0, 4, 2, 6];
    let stat = |c: &[f64]| {
        // A skewed, nonlinear statistic: squared mean over (1 + share of category 0).
        let n: f64 = c.iter().sum();
        mean_value(c).powi(2) / (1.0 + c[0] / n)
    };
    let mut rows = Vec::new();
    for (j, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            rows.push(j);
        }
    }
    let loo: Vec<f64> = rows
        .iter()
        .map(|&j| {
            let mut c: Vec<f64> = counts.iter().map(|&x| x as f64).collect();
            c[j] -= 1.0;
            stat(&c)
        })
        .collect();
    let bar = loo.iter().sum::<f64>() / loo.len() as f64;
    let s2: f64 = loo.iter().map(|t| (bar - t).powi(2)).sum();
    let s3: f64 = loo.iter().map(|t| (bar - t).powi(3)).sum();
    let expected = s3 / (6.0 * s2.powf(1.5));
    let a = jackknife_acceleration(&counts, &stat).unwrap();
    assert!(
        (a - expected).abs() < 1e-12 * expected.abs().max(1e-3),
        "{a} vs {expected}"
    );
    assert!(a.abs() > 1e-4, "the case should be skewed enough to matter");
}

#[test]
fn nps_interval_close_to_wald() {
    // 100 responses: 20 detractors, 30 passives, 50 promoters. NPS 30, se 7.81,
    // Wald 95% [14.69, 45.31].
    let counts = [20u64, 30, 50];
    for method in [
        BootstrapMethod::Percentile,
        BootstrapMethod::Basic,
        BootstrapMethod::Bca,
    ] {
        let iv = bootstrap_counts(&counts, &nps, &spec(method, 10_000), 1);
        assert_eq!(iv.estimate, 30.0);
        assert_eq!(iv.degenerate, None, "{method:?}");
        assert!((iv.low - 14.69).abs() < 1.5, "{method:?}: {iv:?}");
        assert!((iv.high - 45.31).abs() < 1.5, "{method:?}: {iv:?}");
        assert!((iv.std_error - 7.81).abs() < 0.3, "{method:?}: {iv:?}");
    }
}

#[test]
fn difference_close_to_wald_and_consistent() {
    // NPS 30 (se 7.81) vs NPS 10 with 30/30/40 (v = 0.69, se 8.31): d = 20, se_d 11.40,
    // Wald 95% [-2.35, 42.35].
    let a = [20u64, 30, 50];
    let b = [30u64, 30, 40];
    for method in [
        BootstrapMethod::Percentile,
        BootstrapMethod::Basic,
        BootstrapMethod::Bca,
    ] {
        let iv = bootstrap_difference(&a, &b, &nps, &spec(method, 10_000), 3);
        assert!((iv.estimate - 20.0).abs() < 1e-9);
        assert_eq!(iv.degenerate, None);
        assert!((iv.low - -2.35).abs() < 2.0, "{method:?}: {iv:?}");
        assert!((iv.high - 42.35).abs() < 2.0, "{method:?}: {iv:?}");
        assert!((iv.std_error - 11.40).abs() < 0.5, "{method:?}: {iv:?}");
    }
    // A group that cannot vary uses no randomness: the difference is the other group's
    // distribution shifted, bit for bit.
    let single = [0u64, 0, 7];
    let diff = bootstrap_difference_distribution(&a, &single, &nps, 700, 9, 4);
    let alone = bootstrap_distribution(&a, &nps, 700, 9, 4);
    let shifted: Vec<f64> = alone.iter().map(|x| x - 100.0).collect();
    assert_eq!(bits(&diff), bits(&shifted));
}

#[test]
fn degenerate_inputs() {
    let s = spec(BootstrapMethod::Bca, 500);

    let iv = bootstrap_counts(&[0, 0, 0], &nps, &s, 0);
    assert!(iv.low.is_nan() && iv.high.is_nan() && iv.estimate.is_nan());
    assert_eq!(iv.degenerate, Some(Degenerate::Empty));
    let iv = bootstrap_counts(&[], &nps, &s, 0);
    assert_eq!(iv.degenerate, Some(Degenerate::Empty));
    assert!(bootstrap_distribution(&[0, 0, 0], &nps, 10, 0, 0)
        .iter()
        .all(|x| x.is_nan()));

    let iv = bootstrap_counts(&[0, 1, 0], &nps, &s, 0);
    assert_eq!(
        (iv.low, iv.high, iv.estimate, iv.std_error),
        (0.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(iv.degenerate, Some(Degenerate::SingleResponse));

    for method in [
        BootstrapMethod::Percentile,
        BootstrapMethod::Basic,
        BootstrapMethod::Bca,
    ] {
        let iv = bootstrap_counts(&[0, 0, 7], &nps, &spec(method, 100), 0);
        assert_eq!((iv.low, iv.high, iv.estimate), (100.0, 100.0, 100.0));
        assert_eq!(iv.degenerate, Some(Degenerate::SingleCategory));
    }
    // The distribution agrees: a point.
    assert!(bootstrap_distribution(&[0, 0, 7], &nps, 10, 0, 0)
        .iter()
        .all(|&x| x == 100.0));

    // A statistic blind to what varies: every resample has the same total.
    let total = |c: &[f64]| c.iter().sum::<f64>();
    let iv = bootstrap_counts(&[3, 4, 5], &total, &s, 0);
    assert_eq!((iv.low, iv.high, iv.std_error), (12.0, 12.0, 0.0));
    assert_eq!(iv.degenerate, Some(Degenerate::ConstantDistribution));

    // Difference: an empty group makes it undefined; two fixed groups make it a point.
    let iv = bootstrap_difference(&[0, 0, 0], &[1, 2, 3], &nps, &s, 0);
    assert_eq!(iv.degenerate, Some(Degenerate::Empty));
    let iv = bootstrap_difference(&[0, 0, 4], &[2, 0, 0], &nps, &s, 0);
    assert_eq!((iv.low, iv.high, iv.estimate), (200.0, 200.0, 200.0));
    assert_eq!(iv.degenerate, Some(Degenerate::SingleCategory));
}

#[test]
fn bca_falls_back_to_percentile_when_undefined() {
    // (c0 − c1)² on one row of each: both leave-one-out values are 1, jackknife variance 0.
    let sq = |c: &[f64]| (c[0] - c[1]).powi(2);
    let bca = bootstrap_counts(&[1, 1], &sq, &spec(BootstrapMethod::Bca, 400), 2);
    let pct = bootstrap_counts(&[1, 1], &sq, &spec(BootstrapMethod::Percentile, 400), 2);
    assert_eq!(bca.degenerate, Some(Degenerate::BcaAccelerationUndefined));
    assert_eq!((bca.low, bca.high), (pct.low, pct.high));

    // The estimate below every resample: mid-rank proportion 0, z0 = −∞.
    let iv = interval_from_bootstrap(
        vec![2.0, 3.0, 4.0],
        1.0,
        BootstrapMethod::Bca,
        0.9,
        Some(0.0),
    );
    assert_eq!(iv.degenerate, Some(Degenerate::BcaBiasUndefined));
    assert!((iv.low - 2.1).abs() < 1e-12 && (iv.high - 3.9).abs() < 1e-12);
    // Acceleration too large for the requested level: 1 − a(z0 + z) ≤ 0.
    let iv = interval_from_bootstrap(
        vec![1.0, 2.0, 3.0],
        2.0,
        BootstrapMethod::Bca,
        0.9,
        Some(5.0),
    );
    assert_eq!(iv.degenerate, Some(Degenerate::BcaLevelsUndefined));
    // Acceleration unknown.
    let iv = interval_from_bootstrap(vec![1.0, 2.0, 3.0], 2.0, BootstrapMethod::Bca, 0.9, None);
    assert_eq!(iv.degenerate, Some(Degenerate::BcaAccelerationUndefined));
    // Zero acceleration and a centred estimate: BCa is the percentile interval.
    let dist: Vec<f64> = (0..101).map(f64::from).collect();
    let bca = interval_from_bootstrap(dist.clone(), 50.0, BootstrapMethod::Bca, 0.9, Some(0.0));
    let pct = interval_from_bootstrap(dist, 50.0, BootstrapMethod::Percentile, 0.9, None);
    assert!((bca.low - pct.low).abs() < 1e-9 && (bca.high - pct.high).abs() < 1e-9);
    assert_eq!(bca.degenerate, None);
}

#[test]
fn never_panics() {
    let big = [1_000_000_000_000u64, 3, 400_000_000_000, 1];
    for method in [
        BootstrapMethod::Percentile,
        BootstrapMethod::Basic,
        BootstrapMethod::Bca,
    ] {
        let iv = bootstrap_counts(&big[..3], &nps, &spec(method, 300), 1);
        assert!(iv.low <= iv.estimate && iv.estimate <= iv.high, "{iv:?}");
        let iv = bootstrap_counts(&big, &mean_value, &spec(method, 300), 1);
        assert!(iv.low.is_finite() && iv.high.is_finite(), "{iv:?}");
    }
    // k = 300 with a spread of counts, some empty.
    let wide: Vec<u64> = (0..300u64).map(|j| (j * 7919) % 13).collect();
    let iv = bootstrap_counts(&wide, &mean_value, &spec(BootstrapMethod::Bca, 300), 1);
    assert!(iv.low < iv.high && iv.degenerate.is_none(), "{iv:?}");

    // Totals past 2^53 (and past u64): refused, not wrapped.
    for counts in [vec![u64::MAX, u64::MAX, 1], vec![MAX_TOTAL, 1]] {
        let iv = bootstrap_counts(&counts, &mean_value, &spec(BootstrapMethod::Bca, 10), 1);
        assert_eq!(iv.degenerate, Some(Degenerate::TooLarge));
        assert!(iv.low.is_nan());
        assert!(bootstrap_distribution(&counts, &mean_value, 3, 0, 0)
            .iter()
            .all(|x| x.is_nan()));
    }
    let ok = bootstrap_counts(
        &[MAX_TOTAL - 1, 1],
        &mean_value,
        &spec(BootstrapMethod::Bca, 10),
        1,
    );
    assert_ne!(ok.degenerate, Some(Degenerate::TooLarge));

    for confidence in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        let s = BootstrapSpec {
            confidence,
            ..spec(BootstrapMethod::Bca, 10)
        };
        let iv = bootstrap_counts(&[1, 2, 3], &nps, &s, 0);
        assert_eq!(iv.degenerate, Some(Degenerate::InvalidConfidence));
    }
    let iv = bootstrap_counts(&[1, 2, 3], &nps, &spec(BootstrapMethod::Bca, 0), 0);
    assert_eq!(iv.degenerate, Some(Degenerate::NoResamples));
    assert!(bootstrap_distribution(&[1, 2, 3], &nps, 0, 0, 0).is_empty());
    for method in [
        BootstrapMethod::Percentile,
        BootstrapMethod::Basic,
        BootstrapMethod::Bca,
    ] {
        let iv = bootstrap_counts(&[1, 2, 3], &nps, &spec(method, 1), 0);
        assert!(iv.low.is_finite() && iv.std_error.is_nan(), "{iv:?}");
    }

    // A statistic that is NaN on some resamples (here: whenever category 0 is missing).
    let ratio = |c: &[f64]| if c[0] == 0.0 { f64::NAN } else { c[1] / c[0] };
    let iv = bootstrap_counts(&[1, 5, 5], &ratio, &spec(BootstrapMethod::Bca, 500), 0);
    assert_eq!(iv.degenerate, Some(Degenerate::NonFiniteStatistic));
    let nan = |_: &[f64]| f64::NAN;
    let iv = bootstrap_counts(&[1, 5, 5], &nan, &spec(BootstrapMethod::Bca, 50), 0);
    assert_eq!(iv.degenerate, Some(Degenerate::NonFiniteStatistic));
}

/// The lattice path (a count per key) gives `bootstrap_counts`' interval bit for bit: same
/// draws, same order statistics, same sums — on the dense and on the sorted (wide) key path.
#[test]
fn lattice_interval_is_bit_identical_to_the_sorted_one() {
    let share = |c: &[f64]| {
        let n: f64 = c.iter().sum();
        if n <= 0.0 {
            f64::NAN
        } else {
            100.0 * c[1] / n
        }
    };
    type Case = (Vec<u64>, &'static [i64], usize);
    let cases: [Case; 7] = [
        (vec![3_700, 3_000, 3_300], &[-1, 0, 1], 2_000),
        (vec![20, 30, 50], &[-1, 0, 1], 3 * BLOCK_SIZE + 17),
        (vec![1, 0, 1], &[-1, 0, 1], 100),
        (vec![0, 5, 0], &[-1, 0, 1], 100),
        (vec![999, 1], &[0, 1], 1_000),
        (
            vec![1_000_000_000_000, 3, 2_000_000_000_000],
            &[-1, 0, 1],
            50,
        ),
        (vec![40, 60], &[0, 1], 1),
    ];
    for (counts, weights, b) in cases {
        let total: u64 = counts.iter().sum();
        let value = |key: i64| 100.0 * key as f64 / total as f64;
        let lattice = Lattice {
            weights,
            value: &value,
        };
        let statistic: Statistic<'_> = if weights.len() == 3 { &nps } else { &share };
        for method in [
            BootstrapMethod::Percentile,
            BootstrapMethod::Basic,
            BootstrapMethod::Bca,
        ] {
            for (seed, stream) in [(1u64, 2u64), (20240501, 77)] {
                let spec = BootstrapSpec {
                    seed,
                    ..spec(method, b)
                };
                let sorted = bootstrap_counts(&counts, statistic, &spec, stream);
                let counted = bootstrap_lattice(&counts, statistic, &lattice, &spec, stream);
                assert_eq!(
                    interval_bits(&sorted),
                    interval_bits(&counted),
                    "{counts:?} {method:?} B={b}"
                );
                assert_eq!(sorted.degenerate, counted.degenerate);
            }
        }
    }
}

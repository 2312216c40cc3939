//! Test-only: `CXMETRICS_TEST_SLOWDOWN=k` (k > 1) makes every `PyAccumulatorState.update` take k times
//! as long, by spinning after the real work for (k − 1) times what it took. It exists so that
//! the benchmark gate (`benches/`) can show that it catches a 2× slowdown of the kernel; it is
//! read once per process and never set outside that test. Spinning (not sleeping) keeps the
//! core busy as real work would, so the peers see the same load.

use std::sync::OnceLock;
use std::time::Instant;

fn factor() -> f64 {
    static FACTOR: OnceLock<f64> = OnceLock::new();
    *FACTOR.get_or_init(|| {
        std::env::var("CXMETRICS_TEST_SLOWDOWN")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|k| k.is_finite() && *k > 1.0)
            .unwrap_or(1.0)
    })
}

/// Spins until the work started at `started` has taken `factor()` times as long.
pub fn stretch(started: Instant) {
    let k = factor();
    if k <= 1.0 {
        return;
    }
    let target = started.elapsed().mul_f64(k - 1.0);
    let spin = Instant::now();
    while spin.elapsed() < target {
        std::hint::spin_loop();
    }
}

//! The worker threads' pool: rayon's global pool (private to this extension, which links its own
//! rayon), configured at the first call that may use it rather than at import, so that a process
//! forked after `import cxmetrics` starts no threads it cannot keep.
//!
//! On Linux each worker is pinned to one of the CPUs the process may run on, when there is one
//! worker per such CPU. Why: on a machine whose CPUs do not share a scheduling domain for
//! wake-ups (common for virtual machines), a worker woken by a busy thread is queued on the
//! waker's CPU and waits for the load balancer (≈ 2 ms measured on the 2-core CI machine) while
//! the other CPU idles, so a call arriving after a pause ran on one core. A pinned worker wakes
//! on its own CPU. `CXMETRICS_PIN_THREADS=0` turns this off; `RAYON_NUM_THREADS` sets the
//! number of workers (pinning then applies only if it equals the CPUs allowed).

use std::sync::Once;

static CONFIGURE: Once = Once::new();

/// Builds the pool once, before the first parallel work of the process.
pub fn configure() {
    CONFIGURE.call_once(|| {
        let threads = worker_count();
        let cpus = allowed_cpus();
        let pin = pinning_enabled() && threads > 1 && cpus.len() == threads;
        let builder = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("cxmetrics-{i}"))
            .start_handler(move |i| {
                if pin {
                    pin_current_thread(cpus[i]);
                }
            });
        // Fails only if the pool already exists (some work ran before this call): then it
        // keeps its defaults, which are correct, merely unpinned.
        let _ = builder.build_global();
    });
}

/// `RAYON_NUM_THREADS` if set to a positive number (as rayon reads it), else one per CPU this
/// process may use.
fn worker_count() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn pinning_enabled() -> bool {
    std::env::var("CXMETRICS_PIN_THREADS").map_or(true, |v| v.trim() != "0")
}

/// The CPUs the calling thread may run on, in increasing order (empty where unknown).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, filled by the kernel for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Restricts the calling thread to `cpu`; a failure leaves it unpinned.
#[cfg(target_os = "linux")]
fn pin_current_thread(cpu: usize) {
    // SAFETY: the set is a valid cpu_set_t holding one CPU below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let _ = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_current_thread(_cpu: usize) {}

//! Resident memory from `/proc/self/status`, and waiting for it to stop growing.

use std::time::{Duration, Instant};

/// Resident set size in bytes (`VmRSS`), or `None` where `/proc` is unavailable.
pub(crate) fn current() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 =
        line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// What [`settle`] saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled {
    pub(crate) rss: u64,
    /// The last window grew by less than the tolerance before the limit.
    pub(crate) settled: bool,
    pub(crate) waited: Duration,
}

/// Samples RSS until a whole window of samples grows by less than `tolerance` bytes, or `limit`
/// passes. console-subscriber's aggregator consumes its event channel on another thread, so
/// right after a burst of spawns much of its memory is still to come; leakscope allocates its
/// records on the spawn path and settles at once.
pub(crate) async fn settle(tolerance: u64, limit: Duration) -> Settled {
    const SAMPLE: Duration = Duration::from_millis(200);
    const WINDOW: usize = 5;
    let start = Instant::now();
    let mut samples: Vec<u64> = Vec::new();
    loop {
        let rss = current().unwrap_or(0);
        samples.push(rss);
        if samples.len() >= WINDOW {
            let window = &samples[samples.len() - WINDOW..];
            let low = window.iter().min().copied().unwrap_or(0);
            let high = window.iter().max().copied().unwrap_or(0);
            if high - low < tolerance {
                return Settled { rss, settled: true, waited: start.elapsed() };
            }
        }
        if start.elapsed() >= limit {
            return Settled { rss, settled: false, waited: start.elapsed() };
        }
        tokio::time::sleep(SAMPLE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_vm_rss;

    fn check(status: &str, expected: Option<u64>) {
        assert_eq!(parse_vm_rss(status), expected, "{status:?}");
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        check("Name:\tx\nVmRSS:\t   12345 kB\nVmData:\t1 kB\n", Some(12345 * 1024));
        check("VmRSS:\t0 kB", Some(0));
        check("VmHWM:\t5 kB\n", None);
        check("VmRSS:\tlots kB\n", None);
    }
}

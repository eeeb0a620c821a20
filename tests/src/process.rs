//! What the process itself costs, read from Linux's `/proc` (the loopback
//! benchmark and the simulator's CLI report it); `None` elsewhere.

/// The process's user + system CPU seconds (Linux `/proc/self/stat`,
/// 100 ticks per second); `None` elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is the first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A `/proc/self/status` line's value in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn memory_touched_shows_in_rss_and_the_peak_is_no_lower() {
        let before = status_kib("VmRSS:").expect("Linux has VmRSS");
        let block = std::hint::black_box(vec![1u8; 32 << 20]);
        let rss = status_kib("VmRSS:").expect("VmRSS");
        let peak = status_kib("VmHWM:").expect("VmHWM");
        assert!(rss >= before + 30 * 1024, "{before} → {rss} KiB");
        assert!(peak >= rss, "peak {peak} < current {rss} KiB");
        drop(block);
    }

    #[test]
    fn cpu_time_grows_while_the_process_computes() {
        let start = cpu_seconds().expect("Linux has /proc/self/stat");
        let wall = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_seconds().expect("stat") < start + 0.05 {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            assert!(wall.elapsed().as_secs() < 10, "no CPU time counted in 10 s");
        }
    }
}

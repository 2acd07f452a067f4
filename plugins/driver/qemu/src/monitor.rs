//! Monitoring values from a QEMU process's resource use. Pure.

/// One look at a process: CPU time used so far and when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub cpu_ms: u64,
    pub wall_ms: u64,
}

/// CPU use between two samples, in percent of one CPU (OpenNebula's CPU:
/// 200 is two CPUs busy), to one decimal. 0 without an earlier sample, when
/// no time passed, or when the CPU time went back (a new process).
pub fn cpu_percent(previous: Option<Sample>, now: Sample) -> f64 {
    let Some(prev) = previous else {
        return 0.0;
    };
    let (Some(cpu), Some(wall)) = (
        now.cpu_ms.checked_sub(prev.cpu_ms),
        now.wall_ms.checked_sub(prev.wall_ms),
    ) else {
        return 0.0;
    };
    if wall == 0 {
        return 0.0;
    }
    let percent = cpu as f64 * 100.0 / wall as f64;
    (percent * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(cpu_ms: u64, wall_ms: u64) -> Sample {
        Sample { cpu_ms, wall_ms }
    }

    #[test]
    fn percent_of_one_cpu_since_the_previous_sample() {
        assert_eq!(cpu_percent(None, s(5_000, 10_000)), 0.0);
        assert_eq!(cpu_percent(Some(s(1_000, 10_000)), s(1_500, 11_000)), 50.0);
        assert_eq!(cpu_percent(Some(s(0, 0)), s(4_000, 2_000)), 200.0);
        assert_eq!(cpu_percent(Some(s(0, 0)), s(1, 3)), 33.3);
        assert_eq!(cpu_percent(Some(s(100, 100)), s(100, 100)), 0.0);
        // A restarted process, or a clock that went back.
        assert_eq!(cpu_percent(Some(s(9_000, 0)), s(10, 1_000)), 0.0);
        assert_eq!(cpu_percent(Some(s(0, 5_000)), s(10, 1_000)), 0.0);
    }
}

//! Memory and CPU time of a process, from `/proc`.

/// What `/proc/<pid>` tells of a process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Usage {
    /// Resident set size now, in bytes.
    pub(crate) rss: u64,
    /// The largest resident set size so far (`VmHWM`), in bytes.
    pub(crate) peak_rss: u64,
    /// User plus system CPU time so far, in seconds.
    pub(crate) cpu_seconds: f64,
}

/// The usage of `pid`, or `None` once it is gone.
pub(crate) fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(Usage {
        rss: status_kib(&status, "VmRSS:")? * 1024,
        peak_rss: status_kib(&status, "VmHWM:")? * 1024,
        cpu_seconds: cpu_ticks(&stat)? as f64 / rustix::param::clock_ticks_per_second() as f64,
    })
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime (fields 14 and 15 of `stat`), in clock ticks.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // Fields are counted after the parenthesised command name, which may hold spaces; the state
    // (field 3) comes first.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = usage(std::process::id()).expect("this process");
        assert!(me.rss > 0 && me.peak_rss >= me.rss, "{me:?}");
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(280));
    }
}

//! The process's own figures under Prometheus' standard names (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, …), read from `/proc/self` at scrape
//! time. Linux only: elsewhere nothing is reported.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/self/stat`: Linux fixes `USER_HZ` at 100 for user space
/// on every architecture it supports.
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self` says about this process now.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ProcessFigures {
    pub(super) cpu_seconds: Option<f64>,
    pub(super) resident_bytes: Option<i64>,
    pub(super) virtual_bytes: Option<i64>,
    pub(super) open_fds: Option<i64>,
    pub(super) max_fds: Option<i64>,
    pub(super) threads: Option<i64>,
    pub(super) start_time_seconds: Option<f64>,
}

impl ProcessFigures {
    pub(super) fn read() -> ProcessFigures {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let boot = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let mut figures = ProcessFigures::parse(&stat, &status, &boot);
        figures.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as i64);
        figures.max_fds = crate::net::open_files_limit().and_then(|n| i64::try_from(n).ok());
        figures
    }

    /// Figures from the text of `/proc/self/stat`, `/proc/self/status` and `/proc/stat`.
    fn parse(stat: &str, status: &str, boot: &str) -> ProcessFigures {
        // The command name (field 2) is in parentheses and may hold spaces: count from after it.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field n of stat(5) is fields[n - 3].
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let ticks = |n: usize| field(n).map(|t| t as f64 / TICKS_PER_SECOND);
        let kib = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let value = line[name.len()..].trim().trim_end_matches("kB").trim();
            value.parse::<i64>().ok().map(|kib| kib * 1024)
        };
        let boot_time = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        ProcessFigures {
            cpu_seconds: ticks(14).zip(ticks(15)).map(|(user, system)| user + system),
            resident_bytes: kib("VmRSS:"),
            virtual_bytes: field(23).and_then(|v| i64::try_from(v).ok()),
            threads: field(20).and_then(|v| i64::try_from(v).ok()),
            start_time_seconds: boot_time.zip(ticks(22)).map(|(boot, since)| boot + since),
            open_fds: None,
            max_fds: None,
        }
    }
}

/// Reports [`ProcessFigures`] on every scrape.
#[derive(Debug)]
pub(super) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = ProcessFigures::read();
        if let Some(seconds) = figures.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            let help = "User and system CPU time spent, in seconds";
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                help,
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes",
                figures.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size, in bytes",
                figures.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                figures.open_fds,
            ),
            (
                "process_max_fds",
                "The most file descriptors the process may open",
                figures.max_fds,
            ),
            ("process_threads", "OS threads", figures.threads),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(metric)?;
            }
        }
        if let Some(start) = figures.start_time_seconds {
            let gauge = ConstGauge::new(start);
            let help = "Start time of the process since the Unix epoch, in seconds";
            let metric = encoder.encode_descriptor(
                "process_start_time_seconds",
                help,
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ProcessFigures;

    #[test]
    fn proc_files_are_read_field_by_field() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 \
                    1000 123456789 2000 18446744073709551615";
        let status = "Name:\tx\nVmPeak:\t  999 kB\nVmRSS:\t    2284 kB\nThreads:\t7\n";
        let figures = ProcessFigures::parse(stat, status, "cpu 1 2 3\nbtime 1700000000\n");
        assert_eq!(figures.cpu_seconds, Some(3.0));
        assert_eq!(figures.resident_bytes, Some(2284 * 1024));
        assert_eq!(figures.virtual_bytes, Some(123_456_789));
        assert_eq!(figures.threads, Some(7));
        assert_eq!(figures.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(ProcessFigures::parse("", "", ""), ProcessFigures::default());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_figures() {
        let figures = ProcessFigures::read();
        assert!(figures.resident_bytes.is_some_and(|b| b > 0));
        assert!(figures.open_fds.is_some_and(|n| n >= 3));
        assert!(figures.cpu_seconds.is_some());
    }
}

//! Latencies and counts per message type, and the report printed at the
//! end of a run (a table, or JSON with `--json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency recorded exactly (an hour, in microseconds);
/// longer ones are recorded as this.
const MAX_MICROS: u64 = 3_600_000_000;

/// Which part of a run a message type belongs to: its throughput is its
/// count over that part's duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Enrollment (certificates, Authenticate, TokenUpdate, MS-MDE2).
    Enroll,
    /// Check-in sessions (command channel, OMA-DM).
    Checkin,
    /// Admin API calls of the simulator itself (throughput over the whole
    /// run).
    Admin,
}

#[derive(Debug, Clone)]
struct Series {
    phase: Phase,
    latency: Histogram<u64>,
    errors: u64,
}

impl Series {
    // Constant bounds, never input: they are valid (a unit test builds one).
    #[allow(clippy::expect_used)]
    fn new(phase: Phase) -> Self {
        Self {
            phase,
            // 2 significant digits (1 % relative error) over 1 µs .. 1 h:
            // some 20 kB per message type and worker, where 3 digits
            // would take 180 kB (tens of MB with 64 workers).
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 2)
                .expect("1 µs .. 1 h with 2 significant digits is a valid histogram"),
            errors: 0,
        }
    }
}

/// The samples of one worker, merged into the run's at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    series: BTreeMap<&'static str, Series>,
    /// The first few errors, as `type: reason`.
    pub(crate) first_errors: Vec<String>,
}

/// How many error messages a report keeps.
const KEPT_ERRORS: usize = 10;

impl Stats {
    /// Records an answered request of `kind` that took `took`.
    pub(crate) fn ok(&mut self, kind: &'static str, phase: Phase, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(MAX_MICROS);
        self.series
            .entry(kind)
            .or_insert_with(|| Series::new(phase))
            .latency
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Records a failed request of `kind` (transport error, unexpected
    /// status, an answer that does not parse).
    pub(crate) fn error(&mut self, kind: &'static str, phase: Phase, reason: &str) {
        self.series
            .entry(kind)
            .or_insert_with(|| Series::new(phase))
            .errors += 1;
        if self.first_errors.len() < KEPT_ERRORS {
            self.first_errors.push(format!("{kind}: {reason}"));
        }
    }

    /// Adds another worker's samples.
    pub(crate) fn merge(&mut self, other: Stats) {
        for (kind, s) in other.series {
            match self.series.get_mut(kind) {
                Some(mine) => {
                    // Same bounds on both sides: adding cannot fail.
                    let _ = mine.latency.add(&s.latency);
                    mine.errors += s.errors;
                }
                None => {
                    self.series.insert(kind, s);
                }
            }
        }
        for e in other.first_errors {
            if self.first_errors.len() < KEPT_ERRORS {
                self.first_errors.push(e);
            }
        }
    }

    /// Errors of every type.
    pub(crate) fn errors(&self) -> u64 {
        self.series.values().map(|s| s.errors).sum()
    }

    /// One row per message type; throughput over its phase's duration.
    pub(crate) fn rows(&self, phase_time: impl Fn(Phase) -> Duration) -> Vec<Row> {
        self.series
            .iter()
            .map(|(kind, s)| {
                let secs = phase_time(s.phase).as_secs_f64();
                let count = s.latency.len();
                let ms = |q: f64| s.latency.value_at_quantile(q) as f64 / 1000.0;
                Row {
                    kind: (*kind).to_owned(),
                    count,
                    errors: s.errors,
                    per_second: if secs > 0.0 { count as f64 / secs } else { 0.0 },
                    p50_ms: if count > 0 { ms(0.5) } else { 0.0 },
                    p99_ms: if count > 0 { ms(0.99) } else { 0.0 },
                    max_ms: s.latency.max() as f64 / 1000.0,
                }
            })
            .collect()
    }
}

/// The figures of one message type.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// `apple.idle`, `windows.enrollment`, ...
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Requests answered as expected.
    pub(crate) count: u64,
    /// Requests that failed.
    pub(crate) errors: u64,
    /// `count` over the duration of the phase the type belongs to.
    pub(crate) per_second: f64,
    /// Median latency, milliseconds.
    pub(crate) p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub(crate) p99_ms: f64,
    /// Longest latency, milliseconds.
    pub(crate) max_ms: f64,
}

/// What `mdmkit simulate` prints.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// Simulated devices per platform.
    pub(crate) devices: BTreeMap<&'static str, usize>,
    /// Devices enrolled (by this run or loaded from the fleet file).
    pub(crate) enrolled: usize,
    /// Devices the server reports verified at the end (`--until-verified`).
    pub(crate) verified: Option<usize>,
    /// Seconds spent enrolling.
    pub(crate) enroll_seconds: f64,
    /// Seconds spent checking in (from the first session to the last).
    pub(crate) checkin_seconds: f64,
    /// Seconds from the first check-in until the server reported every
    /// device verified (polled about once a second).
    pub(crate) verified_after_seconds: Option<f64>,
    /// Check-in sessions run (Apple: from Idle to an empty answer;
    /// Windows: one OMA-DM session).
    pub(crate) sessions: u64,
    /// Requests that failed, every type.
    pub(crate) errors: u64,
    /// The first few failures.
    pub(crate) first_errors: Vec<String>,
    /// Per message type.
    pub(crate) messages: Vec<Row>,
}

impl Report {
    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let devices: Vec<String> = self
            .devices
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| format!("{n} {p}"))
            .collect();
        let _ = writeln!(
            out,
            "devices: {} ({} enrolled), sessions: {}, errors: {}",
            devices.join(", "),
            self.enrolled,
            self.sessions,
            self.errors
        );
        let _ = writeln!(
            out,
            "enrollment: {:.1} s, check-in: {:.1} s",
            self.enroll_seconds, self.checkin_seconds
        );
        match (self.verified, self.verified_after_seconds) {
            (Some(v), Some(s)) => {
                let _ = writeln!(
                    out,
                    "verified: {v} devices, {s:.1} s after the first check-in"
                );
            }
            (Some(v), None) => {
                let _ = writeln!(out, "verified: {v} of {} devices (gave up)", self.enrolled);
            }
            _ => {}
        }
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "message", "count", "errors", "per s", "p50 ms", "p99 ms", "max ms"
        );
        for r in &self.messages {
            let _ = writeln!(
                out,
                "{:<28} {:>9} {:>7} {:>9.1} {:>9.2} {:>9.2} {:>9.2}",
                r.kind, r.count, r.errors, r.per_second, r.p50_ms, r.p99_ms, r.max_ms
            );
        }
        for e in &self.first_errors {
            let _ = writeln!(out, "error: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_workers_report_the_percentiles_of_all_their_samples() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for ms in 1..=50 {
            a.ok("apple.idle", Phase::Checkin, Duration::from_millis(ms));
        }
        for ms in 51..=100 {
            b.ok("apple.idle", Phase::Checkin, Duration::from_millis(ms));
        }
        b.error("apple.idle", Phase::Checkin, "status 500");
        a.merge(b);
        let rows = a.rows(|_| Duration::from_secs(10));
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.count, r.errors), (100, 1));
        assert!((r.per_second - 10.0).abs() < 1e-9);
        // Within the histogram's 1 % relative error.
        assert!((r.p50_ms - 50.0).abs() <= 0.5, "{r:?}");
        assert!((r.p99_ms - 99.0).abs() <= 1.0, "{r:?}");
        assert_eq!(a.first_errors, ["apple.idle: status 500"]);
    }
}

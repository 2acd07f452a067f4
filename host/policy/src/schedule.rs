//! When a scheduled policy fires: a `recurrence` (cron, parsed by croner:
//! ranges, steps, lists, names, `L`, `#`, `W`, an optional seconds field)
//! or a one-shot `start_time`, read in the policy's `time_zone` (an IANA
//! name, UTC by default; OneFlow used the server's local zone), and a rule
//! for occurrences missed while the server was down (`catch_up`).
//!
//! As in OneFlow, the first evaluation of a policy only arms it (a policy
//! never fires for a time before it was first seen), and several
//! occurrences passed since the last evaluation fire once.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::str::FromStr;

/// What happens to an occurrence that passed while nothing evaluated the
/// policy (the server was down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Fire once for the latest one (OneFlow's behaviour).
    #[default]
    Latest,
    /// Skip it: fire only for occurrences seen on time.
    Skip,
}

impl CatchUp {
    pub fn parse(text: &str) -> Option<CatchUp> {
        match text.trim().to_ascii_lowercase().as_str() {
            "latest" => Some(CatchUp::Latest),
            "skip" => Some(CatchUp::Skip),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum When {
    Recurrence(Box<Cron>),
    Once(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct Schedule {
    when: When,
    zone: Tz,
}

/// A problem with one attribute of a scheduled policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `recurrence`, `start_time` or `time_zone`.
    pub attribute: &'static str,
    pub message: String,
}

/// What the schedule says at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing passed since the last evaluation (or this is the first).
    No,
    /// Fire, for the occurrence at `at_ms`.
    Fire { at_ms: u64 },
    /// An occurrence passed at `at_ms` while nothing evaluated; `catch_up`
    /// is `skip`.
    Skipped { at_ms: u64 },
}

fn millis(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

fn instant(ms: u64) -> DateTime<Utc> {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Schedule {
    /// Exactly one of `recurrence` and `start_time`. `start_time` is epoch
    /// seconds, RFC 3339 (`2026-12-24T18:00:00+01:00`), or a local
    /// `YYYY-MM-DD HH:MM[:SS]` (also with `T`) in `time_zone`.
    pub fn parse(
        recurrence: Option<&str>,
        start_time: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Schedule, ScheduleError> {
        let zone = match time_zone.map(str::trim) {
            None | Some("") => Tz::UTC,
            Some(name) => Tz::from_str(name).map_err(|_| ScheduleError {
                attribute: "time_zone",
                message: format!("`{name}` is not a time zone name (such as UTC or Europe/Madrid)"),
            })?,
        };
        let when = match (recurrence, start_time) {
            (Some(r), None) => When::Recurrence(Box::new(parse_cron(r, zone)?)),
            (None, Some(s)) => When::Once(parse_start(s, zone)?),
            _ => {
                return Err(ScheduleError {
                    attribute: "recurrence",
                    message: "set exactly one of start_time and recurrence".into(),
                });
            }
        };
        Ok(Schedule { when, zone })
    }

    /// The first occurrence after `after_ms`, if there is one.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        match &self.when {
            When::Once(t) => (millis(*t) > after_ms).then(|| millis(*t)),
            When::Recurrence(cron) => cron
                .find_next_occurrence(&instant(after_ms).with_timezone(&self.zone), false)
                .ok()
                .map(|t| millis(t.with_timezone(&Utc))),
        }
    }

    /// The latest occurrence at or before `now_ms`.
    fn latest_until(&self, now_ms: u64) -> Option<u64> {
        match &self.when {
            When::Once(t) => (millis(*t) <= now_ms).then(|| millis(*t)),
            When::Recurrence(cron) => cron
                .find_previous_occurrence(&instant(now_ms).with_timezone(&self.zone), true)
                .ok()
                .map(|t| millis(t.with_timezone(&Utc))),
        }
    }

    /// Whether to fire at an evaluation at `now_ms`, the previous one
    /// having been at `last_eval_ms`. An occurrence more than `grace_ms`
    /// before `now_ms` was missed (nothing evaluated in time); `catch_up`
    /// says what to do with it.
    pub fn due(
        &self,
        last_eval_ms: Option<u64>,
        now_ms: u64,
        grace_ms: u64,
        catch_up: CatchUp,
    ) -> Due {
        let Some(last) = last_eval_ms else {
            return Due::No;
        };
        match self.latest_until(now_ms) {
            Some(at_ms) if at_ms > last => {
                if catch_up == CatchUp::Skip && now_ms.saturating_sub(at_ms) > grace_ms {
                    Due::Skipped { at_ms }
                } else {
                    Due::Fire { at_ms }
                }
            }
            _ => Due::No,
        }
    }
}

/// `2026-12-24 18:00:00 UTC`, for decision records and logs.
pub fn utc(ms: u64) -> String {
    instant(ms).format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn parse_cron(text: &str, zone: Tz) -> Result<Cron, ScheduleError> {
    let error = |message: String| ScheduleError {
        attribute: "recurrence",
        message,
    };
    let cron = Cron::from_str(text.trim()).map_err(|e| error(format!("`{text}`: {e}")))?;
    // A pattern that never matches (`0 0 31 2 *`) is refused now rather
    // than silently never firing.
    let from = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .with_timezone(&zone);
    cron.find_next_occurrence(&from, false)
        .map_err(|_| error(format!("`{text}` never matches a date")))?;
    Ok(cron)
}

fn parse_start(text: &str, zone: Tz) -> Result<DateTime<Utc>, ScheduleError> {
    let text = text.trim();
    let error = || ScheduleError {
        attribute: "start_time",
        message: format!(
            "`{text}` is not a time: use epoch seconds, RFC 3339 or YYYY-MM-DD HH:MM[:SS]"
        ),
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: i64 = text.parse().map_err(|_| error())?;
        return DateTime::from_timestamp(seconds, 0).ok_or_else(error);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            // A local time skipped by a daylight-saving change does not
            // exist; one that occurs twice is taken at its first.
            return zone
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| ScheduleError {
                    attribute: "start_time",
                    message: format!("`{text}` does not exist in {zone} (a daylight-saving gap)"),
                });
        }
    }
    Err(error())
}

#[cfg(test)]
mod tests;

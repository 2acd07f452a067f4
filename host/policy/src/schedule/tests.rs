use super::*;

fn ms(rfc3339: &str) -> u64 {
    millis(
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc),
    )
}

fn cron(pattern: &str, zone: Option<&str>) -> Schedule {
    Schedule::parse(Some(pattern), None, zone).unwrap_or_else(|e| panic!("{pattern}: {e:?}"))
}

const MIN: u64 = 60_000;

#[test]
fn a_recurrence_fires_once_when_its_time_passes() {
    let s = cron("0 9 * * MON-FRI", None);
    // Tuesday 2026-12-01.
    let last = ms("2026-12-01T08:59:45Z");
    assert_eq!(
        s.due(Some(last), ms("2026-12-01T08:59:59Z"), MIN, CatchUp::Latest),
        Due::No
    );
    let now = ms("2026-12-01T09:00:10Z");
    assert_eq!(
        s.due(Some(last), now, MIN, CatchUp::Latest),
        Due::Fire {
            at_ms: ms("2026-12-01T09:00:00Z")
        }
    );
    // The next evaluation does not fire again.
    assert_eq!(
        s.due(Some(now), now + 15_000, MIN, CatchUp::Latest),
        Due::No
    );
    assert_eq!(s.next_after(now), Some(ms("2026-12-02T09:00:00Z")));
    // Friday to Monday.
    assert_eq!(
        s.next_after(ms("2026-12-04T10:00:00Z")),
        Some(ms("2026-12-07T09:00:00Z"))
    );
}

#[test]
fn the_first_evaluation_only_arms_the_policy() {
    let s = cron("* * * * *", None);
    assert_eq!(
        s.due(None, ms("2026-12-01T09:00:30Z"), MIN, CatchUp::Latest),
        Due::No
    );
}

#[test]
fn time_zones_move_the_hour_and_follow_daylight_saving() {
    let madrid = cron("0 9 * * *", Some("Europe/Madrid"));
    // Winter: UTC+1.
    assert_eq!(
        madrid.next_after(ms("2026-12-01T00:00:00Z")),
        Some(ms("2026-12-01T08:00:00Z"))
    );
    // Summer: UTC+2.
    assert_eq!(
        madrid.next_after(ms("2026-07-01T00:00:00Z")),
        Some(ms("2026-07-01T07:00:00Z"))
    );
    let utc = cron("0 9 * * *", None);
    assert_eq!(
        utc.next_after(ms("2026-07-01T00:00:00Z")),
        Some(ms("2026-07-01T09:00:00Z"))
    );
}

#[test]
fn occurrences_missed_while_down_fire_once_or_are_skipped() {
    let s = cron("0 * * * *", None);
    // Down from 09:10 to 12:20: three hourly occurrences passed.
    let last = ms("2026-12-01T09:10:00Z");
    let now = ms("2026-12-01T12:20:00Z");
    assert_eq!(
        s.due(Some(last), now, MIN, CatchUp::Latest),
        Due::Fire {
            at_ms: ms("2026-12-01T12:00:00Z")
        }
    );
    assert_eq!(
        s.due(Some(last), now, MIN, CatchUp::Skip),
        Due::Skipped {
            at_ms: ms("2026-12-01T12:00:00Z")
        }
    );
    // Seen within the grace: fires under either rule.
    let now = ms("2026-12-01T12:00:20Z");
    for rule in [CatchUp::Latest, CatchUp::Skip] {
        assert_eq!(
            s.due(Some(last), now, MIN, rule),
            Due::Fire {
                at_ms: ms("2026-12-01T12:00:00Z")
            }
        );
    }
}

#[test]
fn a_start_time_fires_once() {
    for (text, zone) in [
        ("1796205600", None),
        ("2026-12-02T10:00:00Z", None),
        ("2026-12-02T11:00:00+01:00", None),
        ("2026-12-02 10:00", None),
        ("2026-12-02 11:00:00", Some("Europe/Madrid")),
        ("2026-12-02T05:00", Some("America/New_York")),
    ] {
        let s = Schedule::parse(None, Some(text), zone).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let at = ms("2026-12-02T10:00:00Z");
        assert_eq!(s.next_after(at - 1), Some(at), "{text}");
        assert_eq!(
            s.due(Some(at - 5_000), at + 5_000, MIN, CatchUp::Latest),
            Due::Fire { at_ms: at }
        );
        assert_eq!(
            s.due(Some(at + 5_000), at + 20_000, MIN, CatchUp::Latest),
            Due::No
        );
        assert_eq!(s.next_after(at), None);
    }
}

#[test]
fn mistakes_name_the_attribute() {
    // (recurrence, start_time, time_zone, attribute, message)
    type Row<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        &'a str,
    );
    let table: [Row; 8] = [
        (Some("61 * * * *"), None, None, "recurrence", "`61 * * * *`"),
        (Some("* * *"), None, None, "recurrence", "`* * *`"),
        (
            Some("0 0 31 2 *"),
            None,
            None,
            "recurrence",
            "never matches",
        ),
        (
            Some("0 9 * * *"),
            None,
            Some("Mars/Olympus"),
            "time_zone",
            "not a time zone",
        ),
        (None, Some("tomorrow"), None, "start_time", "is not a time"),
        (
            None,
            Some("2026-03-29 02:30"),
            Some("Europe/Madrid"),
            "start_time",
            "daylight-saving gap",
        ),
        (
            Some("* * * * *"),
            Some("1"),
            None,
            "recurrence",
            "exactly one",
        ),
        (None, None, None, "recurrence", "exactly one"),
    ];
    for (recurrence, start, zone, attribute, message) in table {
        let e = Schedule::parse(recurrence, start, zone).unwrap_err();
        assert_eq!(e.attribute, attribute, "{recurrence:?} {start:?}: {e:?}");
        assert!(
            e.message.contains(message),
            "{recurrence:?} {start:?}: {e:?}"
        );
    }
    assert_eq!(CatchUp::parse(" Skip "), Some(CatchUp::Skip));
    assert_eq!(CatchUp::parse("latest"), Some(CatchUp::Latest));
    assert_eq!(CatchUp::parse("all"), None);
}

#[test]
fn extreme_times_do_not_panic() {
    let s = cron("* * * * *", None);
    let _ = s.next_after(u64::MAX);
    let _ = s.due(Some(u64::MAX - 1), u64::MAX, u64::MAX, CatchUp::Skip);
    let _ = s.due(Some(0), 0, 0, CatchUp::Skip);
}

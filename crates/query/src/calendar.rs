//! Project-local time for reports: `from_date`/`to_date` as UTC bounds, the timezone's
//! offsets over a range (so a store can bucket by local time without a timezone
//! database), and the date keys of each unit.
//!
//! Keys by unit: day, week (its Monday), month (its first day) and runs of days
//! `YYYY-MM-DD`; hour `YYYY-MM-DD HH:00:00`; minute `YYYY-MM-DD HH:MM:00`.

use chrono::{Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use sextant_storage::{BucketUnit, DAY_MS, TimeBuckets};

/// UTC epoch ms of local midnight starting `date` in `tz` (the first instant of that
/// day when midnight does not exist there).
pub fn local_midnight_ms(date: NaiveDate, tz: Tz) -> i64 {
    sextant_expr::value::local_to_ms(date.and_time(NaiveTime::MIN), tz)
}

/// `[from, to)` in UTC ms for the inclusive local dates `from..=to`.
pub fn date_range_ms(from: NaiveDate, to: NaiveDate, tz: Tz) -> (i64, i64) {
    let next = to.succ_opt().unwrap_or(to);
    (local_midnight_ms(from, tz), local_midnight_ms(next, tz))
}

fn offset_ms(tz: Tz, utc_ms: i64) -> i64 {
    let Some(t) = chrono::DateTime::from_timestamp_millis(utc_ms) else { return 0 };
    i64::from(tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc()) * 1000
}

/// The offsets of `tz` in force over `[from_ms, to_ms)`, each from the exact instant
/// it starts, as [`TimeBuckets::offsets`] takes them.
pub fn offsets(tz: Tz, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let mut out = vec![(from_ms, offset_ms(tz, from_ms))];
    // Transitions are at least weeks apart: probe every six hours, then find each
    // change to the second by bisection.
    const STEP: i64 = 6 * 3_600_000;
    let mut t = from_ms;
    while t < to_ms {
        let next = (t + STEP).min(to_ms);
        let (a, b) = (offset_ms(tz, t), offset_ms(tz, next));
        if a != b {
            let (mut lo, mut hi) = (t, next);
            while hi - lo > 1000 {
                let mid = lo + (hi - lo) / 2;
                if offset_ms(tz, mid) == a { lo = mid } else { hi = mid }
            }
            out.push((hi - hi.rem_euclid(1000), b));
        }
        t = next;
    }
    out
}

/// The buckets of `unit` over `[from_ms, to_ms)` in `tz`.
pub fn buckets(unit: BucketUnit, tz: Tz, from_ms: i64, to_ms: i64) -> TimeBuckets {
    TimeBuckets { unit, offsets: offsets(tz, from_ms, to_ms) }
}

/// The local start of the bucket after the one starting at `start`.
pub fn next_bucket(unit: BucketUnit, start: i64) -> i64 {
    match unit {
        BucketUnit::Minute => start + 60_000,
        BucketUnit::Hour => start + 3_600_000,
        BucketUnit::Day => start + DAY_MS,
        BucketUnit::Week => start + 7 * DAY_MS,
        BucketUnit::Month => naive(start)
            .checked_add_months(Months::new(1))
            .map_or(start + 31 * DAY_MS, |t| t.and_utc().timestamp_millis()),
        BucketUnit::Days { days, .. } => start + i64::from(days.max(1)) * DAY_MS,
    }
}

/// The local start of the bucket before the one starting at `start`.
pub fn previous_bucket(unit: BucketUnit, start: i64) -> i64 {
    match unit {
        BucketUnit::Minute => start - 60_000,
        BucketUnit::Hour => start - 3_600_000,
        BucketUnit::Day => start - DAY_MS,
        BucketUnit::Week => start - 7 * DAY_MS,
        BucketUnit::Month => naive(start)
            .checked_sub_months(Months::new(1))
            .map_or(start - 28 * DAY_MS, |t| t.and_utc().timestamp_millis()),
        BucketUnit::Days { days, .. } => start - i64::from(days.max(1)) * DAY_MS,
    }
}

/// The UTC instant of the local wall-clock time `local_ms` in `tz`.
pub fn local_to_utc(local_ms: i64, tz: Tz) -> i64 {
    sextant_expr::value::local_to_ms(naive(local_ms), tz)
}

fn naive(local_ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(local_ms).map(|t| t.naive_utc()).unwrap_or_default()
}

/// The local starts of every bucket that meets `[from_ms, to_ms)`, in order.
pub fn series(b: &TimeBuckets, from_ms: i64, to_ms: i64) -> Vec<i64> {
    let mut out = Vec::new();
    if from_ms >= to_ms {
        return out;
    }
    let last = b.bucket_of(to_ms - 1);
    let mut t = b.bucket_of(from_ms);
    while t <= last {
        out.push(t);
        t = next_bucket(b.unit, t);
    }
    out
}

/// The answer's key for the bucket starting at local `start`.
pub fn key(unit: BucketUnit, start: i64) -> String {
    let t = naive(start);
    match unit {
        BucketUnit::Minute => t.format("%Y-%m-%d %H:%M:00").to_string(),
        BucketUnit::Hour => t.format("%Y-%m-%d %H:00:00").to_string(),
        _ => t.format("%Y-%m-%d").to_string(),
    }
}

/// Today's date in `tz`.
pub fn today(tz: Tz, now_ms: i64) -> NaiveDate {
    naive(now_ms + offset_ms(tz, now_ms)).date()
}

/// `computed_at` of an answer: `now_ms` in RFC 3339, UTC, with microseconds.
pub fn computed_at(now_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn paris_days_follow_daylight_saving() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        // Summer time began on 2024-03-31 at 01:00 UTC: that local day has 23 hours.
        let (from, to) = date_range_ms(date("2024-03-30"), date("2024-04-01"), tz);
        assert_eq!(from, 1_711_753_200_000); // 2024-03-29T23:00Z
        assert_eq!(to, 1_712_008_800_000); // 2024-04-01T22:00Z
        let offs = offsets(tz, from, to);
        assert_eq!(offs, vec![(from, 3_600_000), (1_711_846_800_000, 7_200_000)]);
        let b = buckets(BucketUnit::Day, tz, from, to);
        let keys: Vec<String> = series(&b, from, to).into_iter().map(|s| key(BucketUnit::Day, s)).collect();
        assert_eq!(keys, ["2024-03-30", "2024-03-31", "2024-04-01"]);
        // 23:30 local on the short day is still that day; 00:30 local the next.
        assert_eq!(key(BucketUnit::Day, b.bucket_of(1_711_920_600_000)), "2024-03-31");
        assert_eq!(key(BucketUnit::Day, b.bucket_of(1_711_924_200_000)), "2024-04-01");
    }

    #[test]
    fn units_have_their_keys() {
        let utc = chrono_tz::UTC;
        let (from, to) = date_range_ms(date("2024-01-30"), date("2024-03-02"), utc);
        let keys = |unit| {
            let b = buckets(unit, utc, from, to);
            series(&b, from, to).into_iter().map(|s| key(unit, s)).collect::<Vec<_>>()
        };
        assert_eq!(keys(BucketUnit::Month), ["2024-01-01", "2024-02-01", "2024-03-01"]);
        let weeks = keys(BucketUnit::Week);
        assert_eq!(weeks.first().unwrap(), "2024-01-29");
        assert!(weeks.iter().all(|w| date(w).weekday() == chrono::Weekday::Mon));
        let (f, t) = date_range_ms(date("2024-01-30"), date("2024-01-30"), utc);
        let hours = series(&buckets(BucketUnit::Hour, utc, f, t), f, t);
        assert_eq!(hours.len(), 24);
        assert_eq!(key(BucketUnit::Hour, hours[5]), "2024-01-30 05:00:00");
        assert_eq!(key(BucketUnit::Minute, hours[5] + 61_000), "2024-01-30 05:01:00");
        let origin = local_midnight_ms(date("2024-01-30"), utc);
        let runs = keys(BucketUnit::Days { days: 10, origin });
        assert_eq!(runs, ["2024-01-30", "2024-02-09", "2024-02-19", "2024-02-29"]);
    }
}

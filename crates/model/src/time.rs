//! Epoch conversions shared by ingestion and export.

use chrono::{NaiveDate, NaiveTime};

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// Epoch milliseconds at 00:00:00 UTC of `date`.
pub fn utc_midnight_ms(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

/// Parses a `yyyy-mm-dd` date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Interprets an event's `time` value: seconds (integer or fractional) or milliseconds
/// since the epoch. The two ranges cannot overlap for any plausible date: values below
/// 10^11 are seconds (up to the year 5138), larger ones milliseconds (from March 1973).
/// Returns `None` for non-finite or negative values.
pub fn time_value_to_ms(value: f64) -> Option<i64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let ms = if value < 1e11 { value * 1000.0 } else { value };
    if ms > i64::MAX as f64 / 2.0 {
        return None;
    }
    Some(ms.round() as i64)
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS` in UTC, the form profile dates take.
pub fn format_datetime_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_are_told_apart() {
        assert_eq!(time_value_to_ms(1_700_000_000.0), Some(1_700_000_000_000));
        assert_eq!(time_value_to_ms(1_700_000_000.123), Some(1_700_000_000_123));
        assert_eq!(time_value_to_ms(1_700_000_000_123.0), Some(1_700_000_000_123));
        assert_eq!(time_value_to_ms(-1.0), None);
        assert_eq!(time_value_to_ms(f64::NAN), None);
    }

    #[test]
    fn midnight_of_a_date() {
        let d = parse_date("2024-01-02").unwrap();
        assert_eq!(utc_midnight_ms(d), 1_704_153_600_000);
        assert!(parse_date("2024-13-01").is_none());
    }
}

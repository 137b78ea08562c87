//! Dates and times: parsing ISO-8601 timestamps and writing UTC calendar dates, the one place
//! eventlake does either.
//!
//! Times are microseconds since the Unix epoch, UTC, as the `time` column holds them. Calendar
//! fields are proleptic Gregorian, computed with Howard Hinnant's day-count algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>), so formatting a time costs no
//! allocation beyond its text and never fails: every `i64` of microseconds has a date. Years are
//! written with at least four digits (`{year:04}`), as the partition values of existing lakes are.

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// A timestamp that is neither RFC 3339 nor ISO-8601 without an offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {reason}")]
pub struct ParseTimeError {
    text: String,
    /// Why RFC 3339 parsing refused the text.
    reason: chrono::ParseError,
}

/// Parses an ISO-8601 / RFC 3339 timestamp to microseconds since the epoch, UTC. A time without
/// an offset is read as UTC.
pub fn parse_time(text: &str) -> Result<i64, ParseTimeError> {
    if let Some(micros) = parse_time_fast(text.as_bytes()) {
        return Ok(micros);
    }
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => Ok(time.timestamp_micros()),
        // No offset at all: EventBridge times are UTC, so read it as UTC rather than reject it.
        Err(reason) => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|time| time.and_utc().timestamp_micros())
            .map_err(|_| ParseTimeError {
                text: text.to_owned(),
                reason,
            }),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form EventBridge writes, without the general parser.
fn parse_time_fast(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[19] != b'Z'
    {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        bytes[range].iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// A UTC time's calendar fields, to the second (earlier times round down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Days since 1970-01-01.
    pub days: i64,
    pub year: i64,
    /// 1 to 12.
    pub month: i64,
    /// 1 to 31.
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl CivilTime {
    /// The calendar fields of a time in microseconds since the epoch.
    pub fn from_micros(micros: i64) -> Self {
        Self::from_seconds(micros.div_euclid(MICROS_PER_SECOND))
    }

    /// The calendar fields of a time in seconds since the epoch.
    pub fn from_seconds(seconds: i64) -> Self {
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Self {
            days,
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
        }
    }

    /// 1 for January 1st.
    pub fn day_of_year(&self) -> i64 {
        self.days - days_from_civil(self.year, 1, 1) + 1
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        let Self {
            year, month, day, ..
        } = self;
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`: RFC 3339 to the second, the form EventBridge writes and PutEvents
    /// takes.
    pub fn rfc3339(&self) -> String {
        let Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            ..
        } = self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    }

    /// `YYYY-MM-DD HH:00`: the hour a time falls in, as the `date_hour` SQL function gives it.
    pub fn date_hour(&self) -> String {
        let Self {
            year,
            month,
            day,
            hour,
            ..
        } = self;
        format!("{year:04}-{month:02}-{day:02} {hour:02}:00")
    }

    /// `YYYY/MM/DD/HH`: Firehose's default key prefix for an object that arrived at this time
    /// (<https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html>).
    pub fn hour_path(&self) -> String {
        let Self {
            year,
            month,
            day,
            hour,
            ..
        } = self;
        format!("{year:04}/{month:02}/{day:02}/{hour:02}")
    }

    /// `YYYY-MM-DD-HH-MM-SS`: the arrival time in a Firehose object's name
    /// (`<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`).
    pub fn object_name_stamp(&self) -> String {
        let Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            ..
        } = self;
        format!("{year:04}-{month:02}-{day:02}-{hour:02}-{minute:02}-{second:02}")
    }
}

/// The UTC date (`YYYY-MM-DD`) of a time in microseconds since the epoch.
pub fn date_text(micros: i64) -> String {
    CivilTime::from_micros(micros).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_times() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(-1), "1969-12-31");
        assert_eq!(
            date_text(parse_time("2026-11-20T23:59:59Z").unwrap()),
            "2026-11-20"
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 59, 20_412, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn every_form_of_a_time() {
        let time = CivilTime::from_micros(parse_time("2026-03-04T05:06:07.5Z").unwrap());
        assert_eq!(time.date(), "2026-03-04");
        assert_eq!(time.rfc3339(), "2026-03-04T05:06:07Z");
        assert_eq!(time.date_hour(), "2026-03-04 05:00");
        assert_eq!(time.hour_path(), "2026/03/04/05");
        assert_eq!(time.object_name_stamp(), "2026-03-04-05-06-07");
        assert_eq!(time.day_of_year(), 31 + 28 + 4);
        assert_eq!(
            CivilTime::from_seconds(-1).rfc3339(),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(CivilTime::from_micros(-1), CivilTime::from_seconds(-1));
    }

    /// The formats agree with chrono's wherever chrono writes four-digit years.
    #[test]
    fn formats_agree_with_chrono() {
        for seconds in [
            0,
            -1,
            951_782_400,
            1_793_491_200,
            -62_167_219_200,
            253_402_300_799,
        ] {
            let chrono = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
            let time = CivilTime::from_seconds(seconds);
            assert_eq!(
                time.rfc3339(),
                chrono.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
            assert_eq!(time.date(), chrono.format("%Y-%m-%d").to_string());
            assert_eq!(
                time.day_of_year(),
                i64::from(chrono::Datelike::ordinal(&chrono))
            );
        }
    }

    #[test]
    fn fast_time_parser_agrees_with_chrono() {
        assert_eq!(
            parse_time("2026-11-20T13:45:01").unwrap(),
            parse_time("2026-11-20T13:45:01Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-11-20T14:45:01.5+01:00").unwrap(),
            parse_time("2026-11-20T13:45:01Z").unwrap() + 500_000
        );
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2026-11-20T13:45:01Z",
            "1969-12-31T23:59:59Z",
        ] {
            let chrono = chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_micros();
            assert_eq!(parse_time_fast(text.as_bytes()), Some(chrono), "{text}");
        }
        assert_eq!(parse_time_fast(b"2026-02-30T00:00:00Z"), None);
    }

    #[test]
    fn bad_times_name_the_text() {
        let error = parse_time("yesterday").unwrap_err();
        assert!(error.to_string().starts_with("\"yesterday\": "), "{error}");
    }
}

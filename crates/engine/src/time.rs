//! RFC 3339 timestamps for the date operators, parsed to Unix time without allocating (fixed-position
//! byte scanning and the days-from-civil algorithm). Nothing here allocates.
//!
//! # Accepted syntax
//!
//! What `chrono::DateTime::parse_from_rfc3339` accepts (the parser LaunchDarkly's evaluator uses for
//! string dates), byte for byte:
//!
//! `YYYY-MM-DD` `T`|`t`|space `hh:mm:ss` [`.` 1 or more digits] (`Z`|`z`|`±hh:mm`)
//!
//! * The year has exactly four digits (0000–9999, proleptic Gregorian); the date must exist
//!   (no month 13, no 30 February, 29 February only in leap years).
//! * Hours 00–23, minutes 00–59, seconds 00–60. A leap second `:60` is read as `:59` plus one second
//!   of fraction, as chrono does: it orders after `:59.999…` and, in milliseconds, lands on the next
//!   second's first millisecond.
//! * Any number of fraction digits; the first nine count (nanoseconds), later ones are ignored.
//!   [`parse_rfc3339_ms`] truncates to milliseconds; [`parse_rfc3339`] keeps nanoseconds, which is what
//!   LaunchDarkly compares (`DateTime` ordering).
//! * The offset is `Z`/`z` or a sign (`+`, `-`, or U+2212 MINUS SIGN, which chrono also takes) with
//!   `hh:mm`, hours 00–23, minutes 00–59; the colon is required. `-00:00` is UTC.
//! * No surrounding whitespace, nothing after the offset.
//!
//! # Unleash
//!
//! Client specification 13 uses `2022-01-29T13:00:00.000Z` and `2022-01-22T13:00:00.000+02:00` for
//! both `DATE_AFTER`/`DATE_BEFORE` values and the `currentTime` context field; both are covered.
//! Unleash's own grammar for constraint values is narrower (uppercase `T` and `Z`, either no fraction or
//! exactly three digits); its parsing of context values (`chrono`'s `FromStr for DateTime<Utc>`) is
//! wider (e.g. `+0200`, a trailing `UTC`, spaces before the offset), which this parser rejects.

/// An instant as Unix seconds plus nanoseconds, ordered like chrono's `DateTime<Utc>`: `nanos` is below
/// 1e9 except during a leap second (`:60`), when it is 1e9 or more on the `:59` second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// The instant `ms` milliseconds after the Unix epoch (negative before it).
    pub fn from_unix_ms(ms: i64) -> Timestamp {
        Timestamp {
            secs: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) as u32) * 1_000_000,
        }
    }

    /// Whole seconds since the Unix epoch (floor).
    pub fn unix_secs(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds past [`Timestamp::unix_secs`] (1e9 or more only in a leap second).
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Milliseconds since the Unix epoch, fraction truncated (like chrono's `timestamp_millis`).
    pub fn unix_ms(&self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }
}

/// Parses an RFC 3339 date-time (see the module docs) to Unix milliseconds, the fraction truncated.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    parse_rfc3339(s).map(|t| t.unix_ms())
}

/// Parses an RFC 3339 date-time (see the module docs) to a nanosecond [`Timestamp`].
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = i64::from(num2(b, 0)?) * 100 + i64::from(num2(b, 2)?);
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let month = num2(b, 5)?;
    let day = num2(b, 8)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let hour = num2(b, 11)?;
    let minute = num2(b, 14)?;
    let second = num2(b, 17)?;
    if b[13] != b':' || b[16] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (second, mut nanos) = if second == 60 {
        (59, 1_000_000_000)
    } else {
        (second, 0)
    };

    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        let mut frac: u32 = 0;
        while let Some(&d) = b.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            if i - start < 9 {
                frac = frac * 10 + u32::from(d - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            frac *= 10;
        }
        nanos += frac;
    }

    let rest = b.get(i..)?;
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            offset(*sign == b'-', [*h1, *h2], [*m1, *m2])?
        }
        // U+2212 MINUS SIGN is E2 88 92 in UTF-8.
        [0xE2, 0x88, 0x92, h1, h2, b':', m1, m2] => offset(true, [*h1, *h2], [*m1, *m2])?,
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_secs;
    Some(Timestamp { secs, nanos })
}

fn offset(negative: bool, h: [u8; 2], m: [u8; 2]) -> Option<i64> {
    let hours = num2(&h, 0)?;
    let minutes = num2(&m, 0)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let secs = i64::from(hours) * 3600 + i64::from(minutes) * 60;
    Some(if negative { -secs } else { secs })
}

/// Two ASCII digits at `at`.
#[inline]
fn num2(b: &[u8], at: usize) -> Option<u32> {
    match (b.get(at), b.get(at + 1)) {
        (Some(&x @ b'0'..=b'9'), Some(&y @ b'0'..=b'9')) => {
            Some(u32::from(x - b'0') * 10 + u32::from(y - b'0'))
        }
        _ => None,
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date `year-month-day` (Howard Hinnant's
/// `days_from_civil`); `month` is 1..=12 and `day` valid for it.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds): the inverse of
/// [`days_from_civil`] for the date, so output parses back with [`parse_rfc3339_ms`].
pub fn format_rfc3339_ms(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn formatted_times_parse_back() {
        for ms in [
            0,
            951_782_400_000,
            1_700_000_000_000,
            -86_400_000,
            4_102_444_799_000,
        ] {
            let text = format_rfc3339_ms(ms);
            assert_eq!(parse_rfc3339_ms(&text), Some(ms), "{text}");
        }
        assert_eq!(format_rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }

    use super::*;

    fn ms(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    #[test]
    fn unleash_specification_13_values() {
        // shared/conformance/unleash-client-specification/13-constraint-operators.json
        assert_eq!(ms("2022-01-29T13:00:00.000Z"), 1_643_461_200_000);
        assert_eq!(ms("2022-01-22T13:00:00.000+02:00"), 1_642_849_200_000);
        assert_eq!(ms("2022-01-22T14:00:00.000+02:00"), 1_642_852_800_000);
        assert_eq!(ms("2022-01-22T11:30:00.000Z"), 1_642_851_000_000);
        // F7.date-with-timezone: 11:30Z is after 13:00+02:00 (11:00Z) and before 14:00+02:00 (12:00Z).
        let now = ms("2022-01-22T11:30:00.000Z");
        assert!(now > ms("2022-01-22T13:00:00.000+02:00"));
        assert!(now < ms("2022-01-22T14:00:00.000+02:00"));
    }

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ms("1970-01-01T00:00:00.001Z"), 1);
        assert_eq!(ms("1969-12-31T23:59:59.999Z"), -1);
        assert_eq!(ms("1969-12-31T23:59:59.9999999Z"), -1);
        assert_eq!(ms("1900-01-01T00:00:00Z"), -2_208_988_800_000);
        assert_eq!(ms("1600-03-01T00:00:00Z"), -11_670_912_000_000);
        assert_eq!(ms("0000-01-01T00:00:00Z"), -62_167_219_200_000);
        assert_eq!(ms("0001-01-01T00:00:00Z"), -62_135_596_800_000);
        assert_eq!(ms("9999-12-31T23:59:59.999Z"), 253_402_300_799_999);
        // launchdarkly/rust-server-sdk-evaluation src/rule.rs date clause constants.
        assert_eq!(ms("2017-12-06T00:00:00.000-07:00"), 1_512_543_600_000);
        assert_eq!(ms("2017-12-06T00:01:01.000-07:00"), 1_512_543_661_000);
    }

    #[test]
    fn leap_years() {
        assert_eq!(ms("2000-02-29T12:34:56.789Z"), 951_827_696_789);
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_none());
        assert!(parse_rfc3339("1900-02-29T00:00:00Z").is_none());
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        assert_eq!(
            ms("2024-03-01T00:00:00Z") - ms("2024-02-28T00:00:00Z"),
            2 * 86_400_000
        );
        assert_eq!(
            ms("2023-03-01T00:00:00Z") - ms("2023-02-28T00:00:00Z"),
            86_400_000
        );
    }

    #[test]
    fn offsets_and_separators() {
        let utc = ms("2024-02-29T23:59:59Z");
        assert_eq!(ms("2024-02-29t23:59:59z"), utc);
        assert_eq!(ms("2024-02-29 23:59:59Z"), utc);
        assert_eq!(ms("2024-02-29T23:59:59+00:00"), utc);
        assert_eq!(ms("2024-02-29T23:59:59-00:00"), utc);
        assert_eq!(ms("2024-02-29T23:59:59+23:59"), 1_709_164_859_000);
        assert_eq!(ms("2024-03-01T05:29:59+05:30"), utc);
        assert_eq!(ms("2024-02-29T18:29:59-05:30"), utc);
        assert_eq!(ms("2024-02-29T18:29:59\u{2212}05:30"), utc);
    }

    #[test]
    fn fractions() {
        assert_eq!(ms("2022-01-29T13:00:00.5Z"), 1_643_461_200_500);
        assert_eq!(ms("2022-01-29T13:00:00.123456789123Z"), 1_643_461_200_123);
        let t = parse_rfc3339("2022-01-29T13:00:00.123456789123Z").unwrap();
        assert_eq!(t.subsec_nanos(), 123_456_789);
        assert!(
            parse_rfc3339("2022-01-29T13:00:00.0001Z").unwrap()
                > parse_rfc3339("2022-01-29T13:00:00Z").unwrap()
        );
        assert_eq!(
            Timestamp::from_unix_ms(-1),
            parse_rfc3339("1969-12-31T23:59:59.999Z").unwrap()
        );
        assert_eq!(Timestamp::from_unix_ms(-1).unix_ms(), -1);
        assert_eq!(Timestamp::from_unix_ms(-1001).unix_secs(), -2);
    }

    #[test]
    fn leap_second_like_chrono() {
        let leap = parse_rfc3339("2016-12-31T23:59:60.5Z").unwrap();
        let before = parse_rfc3339("2016-12-31T23:59:59.999Z").unwrap();
        let after = parse_rfc3339("2017-01-01T00:00:00.5Z").unwrap();
        assert!(before < leap && leap < after);
        assert_eq!(leap.unix_ms(), after.unix_ms());
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "2022-01-29",
            "2022-01-29T13:00:00",
            "2022-01-29T13:00Z",
            "2022-13-01T00:00:00Z",
            "2022-00-01T00:00:00Z",
            "2022-01-00T00:00:00Z",
            "2022-01-32T00:00:00Z",
            "2022-02-30T00:00:00Z",
            "2022-04-31T00:00:00Z",
            "2022-01-29T24:00:00Z",
            "2022-01-29T23:60:00Z",
            "2022-01-29T23:59:61Z",
            "2022-01-29X13:00:00Z",
            "2022-01-29T13:00:00.Z",
            "2022-01-29T13:00:00.000",
            "2022-01-29T13:00:00+02",
            "2022-01-29T13:00:00+0200",
            "2022-01-29T13:00:00+24:00",
            "2022-01-29T13:00:00+02:60",
            "2022-01-29T13:00:00 +02:00",
            "2022-01-29T13:00:00Z ",
            " 2022-01-29T13:00:00Z",
            "2022-01-29T13:00:00ZZ",
            "2022-01-29T13:00:00UTC",
            "22-01-29T13:00:00Z",
            "+2022-01-29T13:00:00Z",
            "2022/01/29T13:00:00Z",
            "2022-1-29T13:00:00Z",
            "2022-01-29T13:00:00,5Z",
            "2022-01-29T13:00:00.5+02:00x",
            "2022-01-29T13:00:00é",
            "not a date",
        ] {
            assert!(parse_rfc3339(s).is_none(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn days_from_civil_round_numbers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(days_from_civil(-1, 12, 31), -719_529);
        // Every day from 1899 to 2101 is one more than the day before.
        let mut prev = days_from_civil(1898, 12, 31);
        for y in 1899..=2101 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    let cur = days_from_civil(y, m, d);
                    assert_eq!(cur, prev + 1, "{y}-{m}-{d}");
                    prev = cur;
                }
            }
        }
    }
}

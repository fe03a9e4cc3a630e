//! Time as depot stores it (whole UTC seconds) and as Twilio prints it (`2018-11-10T20:00:00Z`).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch, UTC.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Renders `secs` exactly as twilio-python parses dates: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(secs: i64) -> String {
    TwilioDate(secs).to_string()
}

/// A time shown as `YYYY-MM-DDTHH:MM:SSZ`; written straight into a response, no allocation.
#[derive(Debug, Clone, Copy)]
pub struct TwilioDate(pub i64);

impl std::fmt::Display for TwilioDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = [0u8; 20];
        write_twilio_date(self.0, &mut text);
        f.write_str(std::str::from_utf8(&text).unwrap_or("1970-01-01T00:00:00Z"))
    }
}

/// Writes `secs` as `YYYY-MM-DDTHH:MM:SSZ` into `out`, digit by digit (this runs for every
/// date of every response); times outside years 0–9999 are shown as the epoch.
pub fn write_twilio_date(secs: i64, out: &mut [u8; 20]) {
    let time = OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .filter(|t| (0..=9999).contains(&t.year()))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let year = u32::try_from(time.year()).unwrap_or(1970);
    let fields = [
        (0, year / 100),
        (2, year % 100),
        (5, u32::from(u8::from(time.month()))),
        (8, u32::from(time.day())),
        (11, u32::from(time.hour())),
        (14, u32::from(time.minute())),
        (17, u32::from(time.second())),
    ];
    *out = *b"0000-00-00T00:00:00Z";
    for (at, value) in fields {
        // Each field is two digits.
        out[at] = b'0' + (value / 10) as u8;
        out[at + 1] = b'0' + (value % 10) as u8;
    }
}

/// Renders `secs` as the 2010-04-01 API prints dates (RFC 2822, COMPAT §16.2):
/// `Wed, 18 Aug 2010 20:01:40 +0000`, English names, two-digit day, always `+0000`.
pub fn format_rfc2822(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `YYYY-MM-DD HH:MM am` (UTC, 12-hour clock): the default name of a new subaccount.
pub fn format_minute_meridian(secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (hour, meridian) = match t.hour() {
        0 => (12, "am"),
        h @ 1..=11 => (h, "am"),
        12 => (12, "pm"),
        h => (h - 12, "pm"),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {meridian}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        hour,
        t.minute()
    )
}

/// Parses an RFC 3339 date-time (with `Z` or an offset, fractional seconds allowed).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc2822_and_the_default_subaccount_name() {
        assert_eq!(
            format_rfc2822(1_282_161_700),
            "Wed, 18 Aug 2010 20:01:40 +0000"
        );
        assert_eq!(format_rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(format_minute_meridian(1_282_161_700), "2010-08-18 08:01 pm");
        assert_eq!(format_minute_meridian(0), "1970-01-01 12:00 am");
    }

    #[test]
    fn formats_whole_seconds_with_z() {
        assert_eq!(format(1_541_880_000), "2018-11-10T20:00:00Z");
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(format(i64::MAX), "1970-01-01T00:00:00Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn digits_agree_with_the_time_crate_everywhere() {
        let mut secs = -62_000_000_000i64;
        while secs < 253_402_300_799 {
            let expected = OffsetDateTime::from_unix_timestamp(secs)
                .ok()
                .filter(|t| t.year() >= 0)
                .map(|t| {
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                        t.year(),
                        u8::from(t.month()),
                        t.day(),
                        t.hour(),
                        t.minute(),
                        t.second()
                    )
                })
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
            assert_eq!(format(secs), expected, "{secs}");
            secs += 86_399_937;
        }
    }

    #[test]
    fn parses_the_shapes_clients_send() {
        assert_eq!(parse_rfc3339("2018-11-10T20:00:00Z"), Some(1_541_880_000));
        assert_eq!(
            parse_rfc3339("2018-11-10T20:00:00.000Z"),
            Some(1_541_880_000)
        );
        assert_eq!(
            parse_rfc3339("2018-11-10T21:00:00+01:00"),
            Some(1_541_880_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}

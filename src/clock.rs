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
        match OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            Err(_) => f.write_str("1970-01-01T00:00:00Z"),
        }
    }
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
    fn formats_whole_seconds_with_z() {
        assert_eq!(format(1_541_880_000), "2018-11-10T20:00:00Z");
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
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

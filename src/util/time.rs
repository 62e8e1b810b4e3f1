//! Points in time and durations as users write them on the command line and in SLO files:
//! RFC 3339 times or UTC dates, and bucket widths (`5m`, `1h`). No I/O.

/// A bucket width: a positive integer and `s`, `m`, `h` or `d`; in nanoseconds.
pub fn parse_bucket(text: &str) -> std::result::Result<i64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| format!("{text:?} is not a number followed by s, m, h or d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    if n == 0 {
        return Err("the bucket must be longer than 0".into());
    }
    n.checked_mul(seconds * 1_000_000_000).ok_or_else(|| format!("{text:?} is too long"))
}

/// A point in time, RFC 3339 (`2026-11-01T12:00:00Z`) or a UTC date (`2026-11-01`); in ns
/// since the Unix epoch.
pub fn parse_time(text: &str) -> std::result::Result<i64, String> {
    let parsed =
        chrono::DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&chrono::Utc)).or_else(|_| {
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        });
    let t =
        parsed.map_err(|_| format!("{text:?} is neither RFC 3339 (2026-11-01T12:00:00Z) nor a date (2026-11-01)"))?;
    t.timestamp_nanos_opt().ok_or_else(|| format!("{text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_times() {
        assert_eq!(parse_bucket("1m"), Ok(60_000_000_000));
        assert_eq!(parse_bucket("5m"), Ok(300_000_000_000));
        assert_eq!(parse_bucket("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_bucket("1d"), Ok(86_400_000_000_000));
        assert!(parse_bucket("0m").is_err());
        assert!(parse_bucket("5").is_err());
        assert!(parse_bucket("m").is_err());
        assert!(parse_bucket("1w").is_err());
        assert_eq!(parse_time("1970-01-02"), Ok(86_400_000_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1_000_000_000));
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00"), Ok(1_000_000_000));
        assert!(parse_time("yesterday").is_err());
    }
}

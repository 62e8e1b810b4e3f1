//! The time partitions of the collector's `awss3exporter` in object keys
//! (`s3_partition_format`, strftime, default `year=%Y/month=%m/day=%d/hour=%H/minute=%M`, in
//! `s3_partition_timezone`): the listing prefixes that cover a window, and the partition time
//! read back from a key, so that a run for a window lists and reads only the objects whose
//! partition can hold its spans. The exporter partitions by upload time, so the window is
//! widened by a slack before any of this. Pure: no I/O.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The exporter's default `s3_partition_format`.
pub const DEFAULT_FORMAT: &str = "year=%Y/month=%m/day=%d/hour=%H/minute=%M";

/// Prefixes of one hour each beyond this many are replaced by prefixes of one day.
const MAX_HOUR_PREFIXES: usize = 1000;

/// Steps of the window walked to find its prefixes: fine enough for every time-zone offset.
const STEP_NS: i64 = 15 * 60 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
}

impl Field {
    fn width(self) -> usize {
        if self == Field::Year { 4 } else { 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Text(String),
    Field(Field),
}

/// A parsed `s3_partition_format`: `%Y`, `%m`, `%d`, `%H`, `%M` and `%%` between literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFormat {
    text: String,
    tokens: Vec<Token>,
}

impl PartitionFormat {
    /// Parse a format; year, month and day are required (the partition must name its day), and
    /// a specifier other than those above is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let field = match chars.next() {
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some('Y') => Field::Year,
                Some('m') => Field::Month,
                Some('d') => Field::Day,
                Some('H') => Field::Hour,
                Some('M') => Field::Minute,
                Some(other) => {
                    return Err(format!(
                        "{text:?}: %{other} is not supported; the partition can use %Y, %m, %d, %H, %M and %%"
                    ));
                }
                None => return Err(format!("{text:?} ends with a lone %")),
            };
            if !literal.is_empty() {
                tokens.push(Token::Text(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Field(field));
        }
        if !literal.is_empty() {
            tokens.push(Token::Text(literal));
        }
        let has = |f: Field| tokens.contains(&Token::Field(f));
        if !(has(Field::Year) && has(Field::Month) && has(Field::Day)) {
            return Err(format!("{text:?} must name the partition's day with %Y, %m and %d"));
        }
        if has(Field::Minute) && !has(Field::Hour) {
            return Err(format!("{text:?} has %M (minute) without %H (hour)"));
        }
        Ok(PartitionFormat { text: text.to_string(), tokens })
    }

    /// The format as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The finest field: the length of one partition.
    fn finest(&self) -> Field {
        self.tokens
            .iter()
            .filter_map(|t| if let Token::Field(f) = t { Some(*f) } else { None })
            .max()
            .unwrap_or(Field::Day)
    }

    /// The tokens of a listing prefix cut after `field` (and the `/` that follows it, if one
    /// does).
    fn prefix_tokens(&self, field: Field) -> Vec<Token> {
        let Some(at) = self.tokens.iter().position(|t| *t == Token::Field(field)) else {
            return self.tokens.clone();
        };
        let mut out = self.tokens[..=at].to_vec();
        if let Some(Token::Text(next)) = self.tokens.get(at + 1)
            && next.starts_with('/')
        {
            out.push(Token::Text("/".into()));
        }
        out
    }

    fn render(tokens: &[Token], t: NaiveDateTime) -> String {
        let mut out = String::new();
        for token in tokens {
            match token {
                Token::Text(s) => out.push_str(s),
                Token::Field(Field::Year) => out.push_str(&format!("{:04}", t.year())),
                Token::Field(Field::Month) => out.push_str(&format!("{:02}", t.month())),
                Token::Field(Field::Day) => out.push_str(&format!("{:02}", t.day())),
                Token::Field(Field::Hour) => out.push_str(&format!("{:02}", t.hour())),
                Token::Field(Field::Minute) => out.push_str(&format!("{:02}", t.minute())),
            }
        }
        out
    }

    /// The partition of `t` (ns since the epoch) in `tz`, as the exporter writes it.
    pub fn partition_of(&self, tz: Tz, t: i64) -> String {
        Self::render(&self.tokens, local(tz, t))
    }

    /// The listing prefixes (relative to the exporter's prefix) that cover `[from, to)`, in key
    /// order: one per hour when the format names hours (one per day when that would be more than
    /// a thousand), else one per day.
    pub fn prefixes(&self, tz: Tz, from: i64, to: i64) -> Vec<String> {
        let walk = |field: Field| {
            let tokens = self.prefix_tokens(field);
            let mut set = std::collections::BTreeSet::new();
            let mut t = from.div_euclid(STEP_NS) * STEP_NS;
            while t < to {
                set.insert(Self::render(&tokens, local(tz, t)));
                t += STEP_NS;
            }
            if to > from {
                set.insert(Self::render(&tokens, local(tz, to - 1)));
            }
            set.into_iter().collect::<Vec<_>>()
        };
        if self.finest() >= Field::Hour {
            let hours = walk(Field::Hour);
            if hours.len() <= MAX_HOUR_PREFIXES {
                return hours;
            }
        }
        walk(Field::Day)
    }

    /// The start of the partition that `rest` (a key after the exporter's prefix) begins with,
    /// in the partition's local time; `None` when it does not begin with one.
    fn parse_start(&self, rest: &str) -> Option<NaiveDateTime> {
        let (mut year, mut month, mut day, mut hour, mut minute) = (None, None, None, 0, 0);
        let mut at = rest;
        for token in &self.tokens {
            match token {
                Token::Text(s) => at = at.strip_prefix(s.as_str())?,
                Token::Field(f) => {
                    let digits = at.get(..f.width())?;
                    if !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    let n: u32 = digits.parse().ok()?;
                    at = &at[f.width()..];
                    match f {
                        Field::Year => year = Some(i32::try_from(n).ok()?),
                        Field::Month => month = Some(n),
                        Field::Day => day = Some(n),
                        Field::Hour => hour = n,
                        Field::Minute => minute = n,
                    }
                }
            }
        }
        NaiveDate::from_ymd_opt(year?, month?, day?)?.and_hms_opt(hour, minute, 0)
    }

    /// Whether the key's remainder after the exporter's prefix begins with a partition.
    pub fn matches(&self, rest: &str) -> bool {
        self.parse_start(rest).is_some()
    }

    /// Whether the partition `rest` begins with can hold times in `[from, to)`. A key that does
    /// not begin with a partition, or whose partition does not exist in `tz` (a daylight-saving
    /// gap), is kept: pruning only ever skips what cannot match.
    pub fn may_hold(&self, tz: Tz, rest: &str, from: i64, to: i64) -> bool {
        let Some(start) = self.parse_start(rest) else { return true };
        let end = match self.finest() {
            Field::Minute => start + chrono::Duration::minutes(1),
            Field::Hour => start + chrono::Duration::hours(1),
            _ => start + chrono::Duration::days(1),
        };
        let utc = |t: NaiveDateTime, earliest: bool| {
            let mapped = tz.from_local_datetime(&t);
            let t = if earliest { mapped.earliest() } else { mapped.latest() };
            t.and_then(|t| t.with_timezone(&Utc).timestamp_nanos_opt())
        };
        match (utc(start, true), utc(end, false)) {
            (Some(s), Some(e)) => s < to && e > from,
            _ => true,
        }
    }
}

/// `t` (ns since the epoch) as a local time in `tz`.
fn local(tz: Tz, t: i64) -> NaiveDateTime {
    DateTime::<Utc>::from_timestamp_nanos(t).with_timezone(&tz).naive_local()
}

/// A time zone by its IANA name (`UTC`, `Europe/Berlin`, `America/New_York`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("{name:?} is not an IANA time zone name (UTC, Europe/Berlin, ...)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> i64 {
        crate::util::time::parse_time(text).unwrap()
    }

    #[test]
    fn formats_parse_or_are_refused_with_the_reason() {
        assert!(PartitionFormat::parse(DEFAULT_FORMAT).is_ok());
        assert!(PartitionFormat::parse("%Y/%m/%d/%H%M").is_ok());
        assert!(PartitionFormat::parse("%Y-%m-%d").is_ok());
        assert!(PartitionFormat::parse("%Y/%j").unwrap_err().contains("%j is not supported"));
        assert!(PartitionFormat::parse("%Y/%m").unwrap_err().contains("day"));
        assert!(PartitionFormat::parse("%Y/%m/%d/%M").unwrap_err().contains("without %H"));
        assert!(PartitionFormat::parse("%Y/%m/%d%").unwrap_err().contains("lone %"));
    }

    /// Prefixes of one hour each over the window (the exporter's default), of one day when the
    /// format has no hour, in the partition's own time zone.
    #[test]
    fn prefixes_cover_the_window() {
        let f = PartitionFormat::parse(DEFAULT_FORMAT).unwrap();
        let p = f.prefixes(Tz::UTC, ns("2026-11-16T22:30:00Z"), ns("2026-11-17T01:00:00Z"));
        assert_eq!(
            p,
            [
                "year=2026/month=11/day=16/hour=22/",
                "year=2026/month=11/day=16/hour=23/",
                "year=2026/month=11/day=17/hour=00/"
            ]
        );
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        let p = f.prefixes(berlin, ns("2026-11-16T22:30:00Z"), ns("2026-11-16T23:30:00Z"));
        assert_eq!(p, ["year=2026/month=11/day=16/hour=23/", "year=2026/month=11/day=17/hour=00/"]);
        let daily = PartitionFormat::parse("dt=%Y-%m-%d/").unwrap();
        assert_eq!(
            daily.prefixes(Tz::UTC, ns("2026-11-16T12:00:00Z"), ns("2026-11-18T00:00:00Z")),
            ["dt=2026-11-16/", "dt=2026-11-17/"]
        );
        // A year of hours is listed by day instead.
        let year = f.prefixes(Tz::UTC, ns("2026-01-01"), ns("2027-01-01"));
        assert_eq!(year.len(), 365);
        assert_eq!(year[0], "year=2026/month=01/day=01/");
        let compact = PartitionFormat::parse("%Y/%m/%d/%H%M").unwrap();
        assert_eq!(
            compact.prefixes(Tz::UTC, ns("2026-11-16T09:10:00Z"), ns("2026-11-16T09:20:00Z")),
            ["2026/11/16/09"]
        );
        assert_eq!(f.partition_of(Tz::UTC, ns("2026-11-16T09:47:13Z")), "year=2026/month=11/day=16/hour=09/minute=47");
    }

    /// A key's partition is kept when its interval overlaps the window; keys that do not begin
    /// with a partition are kept.
    #[test]
    fn keys_are_kept_when_their_partition_can_hold_the_window() {
        let f = PartitionFormat::parse(DEFAULT_FORMAT).unwrap();
        let (from, to) = (ns("2026-11-16T10:00:00Z"), ns("2026-11-16T11:00:00Z"));
        let key = |p: &str| format!("{p}/traces_123456789.json.gz");
        assert!(f.may_hold(Tz::UTC, &key("year=2026/month=11/day=16/hour=10/minute=00"), from, to));
        assert!(f.may_hold(Tz::UTC, &key("year=2026/month=11/day=16/hour=10/minute=59"), from, to));
        assert!(!f.may_hold(Tz::UTC, &key("year=2026/month=11/day=16/hour=09/minute=59"), from, to));
        assert!(!f.may_hold(Tz::UTC, &key("year=2026/month=11/day=16/hour=11/minute=00"), from, to));
        assert!(f.may_hold(Tz::UTC, "other/traces.json", from, to));
        assert!(!f.matches("other/traces.json"));
        assert!(f.matches(&key("year=2026/month=11/day=16/hour=10/minute=00")));
        // In Berlin (UTC+1 in November) 11:xx local is 10:xx UTC.
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        assert!(f.may_hold(berlin, &key("year=2026/month=11/day=16/hour=11/minute=30"), from, to));
        assert!(!f.may_hold(berlin, &key("year=2026/month=11/day=16/hour=10/minute=30"), from, to));
        assert!(parse_timezone("Mars/Olympus").is_err());
    }
}

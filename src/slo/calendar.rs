//! Calendar arithmetic of SLOs, knowing nothing of their definitions: EventBridge cron
//! expressions (the recurrence of exclusion windows) and their occurrences in a time range, and
//! months added to a time.

use chrono::{DateTime, Months, Utc};

use crate::error::{Error, Result};

use super::{NANOS_PER_DAY, NANOS_PER_MINUTE};

/// A parsed cron expression (EventBridge syntax: six fields, `?` in day-of-month or
/// day-of-week), each field as the set of values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// `None` for `?`.
    days_of_month: Option<Vec<bool>>,
    months: Vec<bool>,
    /// 1 = Sunday … 7 = Saturday; `None` for `?`.
    days_of_week: Option<Vec<bool>>,
    years: Vec<bool>,
}

pub(crate) const MONTH_NAMES: [&str; 12] =
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
pub(crate) const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One cron field as a set over `min..=max`: `*`, values, `a-b` ranges, `/n` steps, lists;
/// `names` are the field's words for `min`, `min + 1`, ….
pub(crate) fn cron_field(text: &str, min: u32, max: u32, names: &[&str]) -> std::result::Result<Vec<bool>, String> {
    let value = |v: &str| -> std::result::Result<u32, String> {
        let n = match names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            Some(i) => min + i as u32,
            None => v.parse().map_err(|_| format!("{v:?} is not a value of this field"))?,
        };
        if (min..=max).contains(&n) { Ok(n) } else { Err(format!("{n} is outside {min}-{max}")) }
    };
    let mut set = vec![false; max as usize + 1];
    for part in text.split(',') {
        if part.contains(['L', 'W', '#']) && !names.iter().any(|n| part.eq_ignore_ascii_case(n)) {
            return Err(format!("{part:?}: L, W and # are not supported"));
        }
        let (range, step) = match part.split_once('/') {
            Some((r, n)) => (r, n.parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!("bad step in {part:?}"))?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, max),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        (from..=to).step_by(step as usize).for_each(|v| set[v as usize] = true);
    }
    Ok(set)
}

impl Cron {
    pub(crate) fn parse(fields: &str) -> std::result::Result<Cron, String> {
        let f: Vec<&str> = fields.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = f[..] else {
            return Err(format!("{} fields, expected 6 (minutes hours day-of-month month day-of-week year)", f.len()));
        };
        let optional = |text: &str, min, max, names: &[&str]| match text {
            "?" => Ok(None),
            t => cron_field(t, min, max, names).map(Some),
        };
        let cron = Cron {
            minutes: cron_field(minutes, 0, 59, &[])?,
            hours: cron_field(hours, 0, 23, &[])?,
            days_of_month: optional(dom, 1, 31, &[])?,
            months: cron_field(month, 1, 12, &MONTH_NAMES)?,
            days_of_week: optional(dow, 1, 7, &DAY_NAMES)?,
            years: cron_field(year, 1970, 2199, &[])?,
        };
        if cron.days_of_month.is_some() == cron.days_of_week.is_some() {
            return Err("one of day-of-month and day-of-week must be ? (and only one)".into());
        }
        Ok(cron)
    }

    /// Whether the day holding `t` (UTC) matches the date fields.
    pub(crate) fn matches_day(&self, t: DateTime<Utc>) -> bool {
        use chrono::Datelike;
        let year = usize::try_from(t.year()).unwrap_or(0);
        self.years.get(year).copied().unwrap_or(false)
            && self.months[t.month() as usize]
            && self.days_of_month.as_ref().is_none_or(|d| d[t.day() as usize])
            && self.days_of_week.as_ref().is_none_or(|d| d[t.weekday().number_from_sunday() as usize])
    }

    /// The matching minutes in `[from, to)`, ns, in order.
    pub(crate) fn occurrences(&self, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut day = from.div_euclid(NANOS_PER_DAY) * NANOS_PER_DAY;
        while day < to {
            if self.matches_day(DateTime::<Utc>::from_timestamp_nanos(day)) {
                for (h, _) in self.hours.iter().enumerate().filter(|h| *h.1) {
                    for (m, _) in self.minutes.iter().enumerate().filter(|m| *m.1) {
                        let t = day + (h as i64 * 60 + m as i64) * NANOS_PER_MINUTE;
                        if t >= from && t < to {
                            out.push(t);
                        }
                    }
                }
            }
            day += NANOS_PER_DAY;
        }
        out
    }
}

pub(crate) fn add_months(t: i64, months: i64) -> Result<i64> {
    let dt = DateTime::<Utc>::from_timestamp_nanos(t);
    let m = Months::new(u32::try_from(months.unsigned_abs()).unwrap_or(u32::MAX));
    let moved = if months >= 0 { dt.checked_add_months(m) } else { dt.checked_sub_months(m) };
    moved
        .and_then(|d| d.timestamp_nanos_opt())
        .ok_or_else(|| Error::Config(format!("an SLO interval around {dt} is out of range")))
}

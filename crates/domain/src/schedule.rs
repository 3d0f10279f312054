//! When a recurring job runs: a fixed interval (`6h`) or a cron expression
//! (`0 3 * * *`), evaluated in UTC.
//!
//! The cron form is the classic five fields, `minute hour day-of-month month
//! day-of-week`, each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`,
//! or a comma list of those; months and weekdays also by their English
//! three-letter names (`jan`, `mon-fri`), Sunday as 0 or 7. As in Vixie cron,
//! when both day fields are restricted a day matching either runs. The
//! shorthands `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and
//! `@yearly` (`@annually`) are accepted. Seconds, `L`, `W`, `#` and `?` are
//! not: a schedule either means what it says here or is refused.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, Timelike, Utc};
use std::fmt;
use std::time::Duration;

/// The longest interval accepted: a year.
const MAX_INTERVAL_SECS: u64 = 366 * 86_400;

/// How far ahead a cron expression is searched for its next run: eight
/// years covers every date that exists at all (29 February included).
const SEARCH_DAYS: i64 = 8 * 366;

/// A parsed schedule; [`fmt::Display`] shows it as it was written.
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Every(Duration),
    Cron(Cron),
}

/// The five fields as bit sets; `*_star` records a day field written from
/// `*`, which decides how the two day fields combine.
#[derive(Clone, PartialEq, Eq)]
struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_star: bool,
    weekdays_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
// 7 is Sunday too; folded onto 0 after parsing.
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            // Month names count from 1 (the field's minimum), weekday names from 0 (Sunday).
            return Ok(i as u32 + self.min);
        }
        let n: u32 = text.parse().map_err(|_| {
            format!(
                "`{text}` is not a valid {} (use {}-{}{})",
                self.name,
                self.min,
                self.max,
                if self.names.is_empty() {
                    ""
                } else {
                    " or a three-letter English name"
                }
            )
        })?;
        if n < self.min || n > self.max {
            return Err(format!(
                "{n} is out of range for the {} ({}-{})",
                self.name, self.min, self.max
            ));
        }
        Ok(n)
    }

    /// Parses one field into a bit set (bit n set: value n matches).
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("`{step}` is not a valid step in the {} field", self.name)
                    })?;
                    (range, step)
                }
                None => (item, 1),
            };
            let (from, to) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!(
                        "the range `{range}` in the {} field runs backwards",
                        self.name
                    ));
                }
                (a, b)
            } else {
                let a = self.value(range)?;
                // `5/15` means from 5 to the end, every 15.
                (a, if step > 1 { self.max } else { a })
            };
            let mut v = from;
            while v <= to {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok(bits)
    }
}

impl Cron {
    fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!(
                "a cron expression has five fields (minute hour day-of-month month day-of-week), \
                 this one has {}",
                fields.len()
            ));
        };
        let mut weekdays = WEEKDAY.parse(weekday)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let cron = Self {
            minutes: MINUTE.parse(minute)?,
            hours: HOUR.parse(hour)?,
            days: DAY.parse(day)?,
            months: MONTH.parse(month)?,
            weekdays,
            days_star: day.starts_with('*'),
            weekdays_star: weekday.starts_with('*'),
        };
        let probe = DateTime::<Utc>::UNIX_EPOCH + ChronoDuration::days(365 * 30);
        if cron.next_after(probe).is_none() {
            return Err("the expression never matches a date that exists".to_owned());
        }
        Ok(cron)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after
            .with_second(0)?
            .with_nanosecond(0)?
            .checked_add_signed(ChronoDuration::minutes(1))?;
        let first_day = start.date_naive();
        for offset in 0..SEARCH_DAYS {
            let date = first_day.checked_add_signed(ChronoDuration::days(offset))?;
            if self.months & (1 << date.month()) == 0 || !self.day_matches(date) {
                continue;
            }
            let (from_hour, from_minute) = if offset == 0 {
                (start.hour(), start.minute())
            } else {
                (0, 0)
            };
            for hour in from_hour..24 {
                if self.hours & (1 << hour) == 0 {
                    continue;
                }
                let first = if hour == from_hour { from_minute } else { 0 };
                if let Some(minute) = (first..60).find(|m| self.minutes & (1 << m) != 0) {
                    return Some(date.and_hms_opt(hour, minute, 0)?.and_utc());
                }
            }
        }
        None
    }
}

fn parse_interval(text: &str) -> Option<Result<Duration, String>> {
    let unit = text.chars().last()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        match digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
        {
            Some(0) => Err("an interval must be at least 1s".to_owned()),
            Some(secs) if secs <= MAX_INTERVAL_SECS => Ok(Duration::from_secs(secs)),
            _ => Err("an interval may be at most a year (366d)".to_owned()),
        },
    )
}

impl Schedule {
    /// Parses an interval (`30s`, `15m`, `6h`, `1d`: a whole number and one
    /// unit) or a cron expression (see the module documentation).
    ///
    /// # Errors
    /// Says what is wrong, naming the field of a cron expression; the text
    /// is never a secret, so it may be quoted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let expression = match lower.as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "`{text}` is not a known shorthand (@hourly, @daily, @weekly, @monthly, @yearly)"
                ));
            }
            other => other,
        };
        let kind = match parse_interval(expression) {
            Some(interval) => Kind::Every(interval?),
            None if !expression.contains(char::is_whitespace) => {
                return Err(format!(
                    "`{text}` is neither an interval (a whole number and s, m, h or d: `6h`) \
                     nor a cron expression (five fields: `0 3 * * *`)"
                ));
            }
            None => Kind::Cron(Cron::parse(expression)?),
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }

    /// The schedule as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The interval, for an interval schedule.
    pub fn interval(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Every(d) => Some(*d),
            Kind::Cron(_) => None,
        }
    }

    /// The first run strictly after `after`: `after` plus the interval, or
    /// the next whole minute the cron expression matches (UTC). `None` only
    /// past the end of representable time.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(d) => after.checked_add_signed(ChronoDuration::from_std(*d).ok()?),
            Kind::Cron(cron) => cron.next_after(after),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(schedule: &str, after: &str) -> String {
        Schedule::parse(schedule)
            .unwrap()
            .next_after(at(after))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn intervals_add_to_the_last_run() {
        assert_eq!(
            Schedule::parse("6h").unwrap().interval(),
            Some(Duration::from_secs(21_600))
        );
        assert_eq!(
            next("90m", "2026-01-01T00:00:30+00:00"),
            "2026-01-01T01:30:30+00:00"
        );
        assert_eq!(
            Schedule::parse("2s").unwrap().interval(),
            Some(Duration::from_secs(2))
        );
        for bad in ["0s", "367d", "6 h", "6x", "h", "-1h", "1.5h", ""] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cron_expressions_find_the_next_matching_minute() {
        assert_eq!(
            next("0 3 * * *", "2026-03-10T02:59:59+00:00"),
            "2026-03-10T03:00:00+00:00"
        );
        // Strictly after: the matching minute itself is not "next".
        assert_eq!(
            next("0 3 * * *", "2026-03-10T03:00:00+00:00"),
            "2026-03-11T03:00:00+00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-03-10T10:07:00+00:00"),
            "2026-03-10T10:15:00+00:00"
        );
        assert_eq!(
            next("30 2 * * mon-fri", "2026-03-13T03:00:00+00:00"),
            "2026-03-16T02:30:00+00:00",
            "Friday after 02:30 -> Monday"
        );
        assert_eq!(
            next("0 0 29 feb *", "2026-03-01T00:00:00+00:00"),
            "2028-02-29T00:00:00+00:00"
        );
        assert_eq!(
            next("0 12 1,15 * *", "2026-03-02T00:00:00+00:00"),
            "2026-03-15T12:00:00+00:00"
        );
        // Sunday as 7; and both day fields restricted: either matches.
        assert_eq!(
            next("0 0 * * 7", "2026-03-10T00:00:00+00:00"),
            "2026-03-15T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 13 * 5", "2026-03-10T00:00:00+00:00"),
            "2026-03-13T00:00:00+00:00",
            "the 13th or any Friday (13 March 2026 is a Friday anyway)"
        );
        assert_eq!(
            next("0 0 20 * 1", "2026-03-10T00:00:00+00:00"),
            "2026-03-16T00:00:00+00:00",
            "Monday 16th comes before the 20th"
        );
        assert_eq!(
            next("@weekly", "2026-03-10T00:00:00+00:00"),
            "2026-03-15T00:00:00+00:00"
        );
        assert_eq!(
            next("5/20 * * * *", "2026-03-10T00:06:00+00:00"),
            "2026-03-10T00:25:00+00:00"
        );
    }

    #[test]
    fn bad_cron_expressions_are_refused_naming_the_field() {
        for (bad, says) in [
            ("61 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("* * * * xyz", "day of week"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("* * * *", "five fields"),
            ("0 0 31 2 *", "never matches"),
            ("@fortnightly", "shorthand"),
            ("0 0 L * *", "day of month"),
        ] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn it_shows_as_written() {
        let s = Schedule::parse(" 0 3 * * * ").unwrap();
        assert_eq!(s.to_string(), "0 3 * * *");
        assert_eq!(format!("{s:?}"), "Schedule(\"0 3 * * *\")");
        assert_eq!(s.interval(), None);
    }
}

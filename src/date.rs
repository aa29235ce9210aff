//! Partial calendar dates: a year, optionally a month, optionally a day, always valid.
//!
//! News metadata gives dates at any precision ("2025", "avril 2025", "2025-04-12"), and
//! sometimes gives words instead ("hier", "été"). The index keeps the text it found; this
//! type decides what is a date. Filters compare on the type, at the coarser precision of the
//! two sides, so `--since 2025-04` keeps an article dated only "2025", and free text never
//! passes a date bound.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Years outside this range are treated as typos, not dates.
pub const YEARS: std::ops::RangeInclusive<u16> = 1000..=2999;

/// A valid date at year, month or day precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialDate {
    year: u16,
    month: Option<u8>,
    day: Option<u8>,
}

/// Why a text is not a [`PartialDate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a date: use YYYY, YYYY-MM or YYYY-MM-DD ({reason})")]
pub struct DateError {
    pub text: String,
    pub reason: &'static str,
}

impl PartialDate {
    /// A date, or `None` when the parts do not make one (month 13, 31 February, year 99999).
    pub fn new(year: u32, month: Option<u32>, day: Option<u32>) -> Option<PartialDate> {
        let year = u16::try_from(year).ok().filter(|y| YEARS.contains(y))?;
        let month = match month {
            Some(m) if (1..=12).contains(&m) => Some(m as u8),
            Some(_) => return None,
            None => None,
        };
        let day = match (month, day) {
            (Some(m), Some(d)) if d >= 1 && d <= u32::from(days_in_month(year, m)) => Some(d as u8),
            (_, Some(_)) => return None,
            (_, None) => None,
        };
        Some(PartialDate { year, month, day })
    }

    /// Parses exactly `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (zero-padded), validated.
    pub fn parse_iso(text: &str) -> Result<PartialDate, DateError> {
        let err = |reason| DateError {
            text: text.to_string(),
            reason,
        };
        let parts: Vec<&str> = text.split('-').collect();
        let widths = [4, 2, 2];
        if parts.len() > 3 {
            return Err(err("too many parts"));
        }
        let mut nums = [0u32; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != widths[i] || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("expected digits as YYYY-MM-DD"));
            }
            nums[i] = p.parse().map_err(|_| err("expected digits"))?;
        }
        let month = (parts.len() > 1).then_some(nums[1]);
        let day = (parts.len() > 2).then_some(nums[2]);
        PartialDate::new(nums[0], month, day).ok_or_else(|| err("no such year, month or day"))
    }

    /// Reads a stored date field: a date when it is one, `None` for free text ("hier").
    pub fn from_stored(text: &str) -> Option<PartialDate> {
        PartialDate::parse_iso(text.trim()).ok()
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> Option<u8> {
        self.month
    }

    pub fn day(self) -> Option<u8> {
        self.day
    }

    /// Compares at the precision both dates have: 2025 is equal to 2025-04, and 2025-04 to
    /// 2025-04-12. This is what an inclusive bound means for dates of mixed precision.
    pub fn cmp_coarse(self, other: PartialDate) -> Ordering {
        self.year
            .cmp(&other.year)
            .then_with(|| match (self.month, other.month) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => Ordering::Equal,
            })
            .then_with(|| match (self.day, other.day) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => Ordering::Equal,
            })
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        Ok(())
    }
}

impl FromStr for PartialDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartialDate::parse_iso(s)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PartialDate::parse_iso(&s).map_err(serde::de::Error::custom)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An inclusive date range; an open side is unbounded. Free-text and missing dates fail any
/// bound, since nobody can say whether "hier" falls inside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DateRange {
    pub since: Option<PartialDate>,
    pub until: Option<PartialDate>,
}

impl DateRange {
    pub fn is_empty(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Whether a stored date field passes.
    pub fn accepts_stored(&self, stored: Option<&str>) -> bool {
        if self.is_empty() {
            return true;
        }
        match stored.and_then(PartialDate::from_stored) {
            Some(d) => self.accepts(d),
            None => false,
        }
    }

    pub fn accepts(&self, d: PartialDate) -> bool {
        self.since.is_none_or(|s| d.cmp_coarse(s).is_ge()) && self.until.is_none_or(|u| d.cmp_coarse(u).is_le())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> PartialDate {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_validates() {
        assert_eq!(d("2025").to_string(), "2025");
        assert_eq!(d("2025-04").to_string(), "2025-04");
        assert_eq!(d("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2025-02-31",
            "2023-02-29",
            "2025-1",
            "2024-13",
            "99999",
            "2025-04-",
            "été",
            "hier",
            "🎉🎉",
            "",
            "2025-04-12T10:00",
            "+2025",
        ] {
            assert!(PartialDate::parse_iso(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn coarse_comparison_and_ranges() {
        assert_eq!(d("2025").cmp_coarse(d("2025-04")), Ordering::Equal);
        assert_eq!(d("2025-04-12").cmp_coarse(d("2025-05")), Ordering::Less);
        let since_2025 = DateRange {
            since: Some(d("2025")),
            until: None,
        };
        assert!(since_2025.accepts_stored(Some("2025-04")));
        assert!(!since_2025.accepts_stored(Some("2024-12-31")));
        for free in ["été", "hier", "2025-02-31", "mardi dernier", "🎉🎉"] {
            assert!(!since_2025.accepts_stored(Some(free)), "{free}");
        }
        assert!(!since_2025.accepts_stored(None));
        assert!(DateRange::default().accepts_stored(Some("hier")));
        let april = DateRange {
            since: Some(d("2025-04")),
            until: Some(d("2025-04")),
        };
        assert!(april.accepts_stored(Some("2025-04-30")));
        assert!(april.accepts_stored(Some("2025")));
        assert!(!april.accepts_stored(Some("2025-05-01")));
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(s in "\\PC{0,12}") {
            if let Ok(p) = PartialDate::parse_iso(&s) {
                prop_assert_eq!(p.to_string(), s.clone());
            }
            let r = DateRange { since: Some(d("2025")), until: Some(d("2025-06")) };
            let _ = r.accepts_stored(Some(&s));
        }

        #[test]
        fn valid_parts_round_trip(y in 1000u32..3000, m in 1u32..13, day in 1u32..32) {
            if let Some(p) = PartialDate::new(y, Some(m), Some(day)) {
                prop_assert_eq!(PartialDate::parse_iso(&p.to_string()).unwrap(), p);
            } else {
                prop_assert!(day > 28);
            }
        }
    }
}

//! Recognising publication dates in the forms news pages use.
//!
//! Dates are returned as ISO text (`2025-04` or `2025-04-12`) that [`PartialDate`] parses back;
//! every date returned here is valid (no 31 February). French and English month names are
//! understood because the corpus mixes both.

use crate::date::PartialDate;

/// The ISO text of a valid date, or `None`.
fn iso(year: u32, month: u32, day: Option<u32>) -> Option<String> {
    PartialDate::new(year, Some(month), day).map(|d| d.to_string())
}

/// An ISO-like date at the very start of `s` (`2025-04`, `2025-04-12`, `2025/04/12`).
/// Returns the normalised date and the number of bytes it spans.
pub(super) fn iso_prefix(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let year = digits(0, 4)?;
    let sep = *b.get(4)?;
    if !matches!(sep, b'-' | b'/' | b'.') || !(1900..=2100).contains(&year) {
        return None;
    }
    let month = digits(5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let mut len = 7;
    let mut day = None;
    if b.get(7) == Some(&sep)
        && let Some(d) = digits(8, 2)
    {
        day = Some(d);
        len = 10;
    }
    // "2025-04-123" is not a date.
    if b.get(len).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    // "2025-02-31" is not one either: kept as text by the caller rather than cut to a month.
    Some((iso(year, month, day)?, len))
}

/// A JSON number as a date: a plausible year (`2024`), or `None`.
pub(super) fn year(n: u64) -> Option<String> {
    let y = u32::try_from(n).ok()?;
    PartialDate::new(y, None, None).map(|d| d.to_string())
}

/// Normalises a date field (metadata, JSONL, front matter): ISO prefix, any recognised date,
/// or the value as found when it is short.
pub(super) fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if raw.is_empty() {
        return None;
    }
    if let Some((d, _)) = iso_prefix(raw) {
        return Some(d);
    }
    find(raw).or_else(|| (raw.chars().count() <= 40).then(|| raw.to_string()))
}

/// Finds the first recognisable date anywhere in `s`.
pub(super) fn find(s: &str) -> Option<String> {
    let lower = s.to_lowercase();
    let words = tokens(&lower);
    // The month of an impossible "31 février 2025" must not be read again as "février 2025".
    let mut skip = None;
    for (i, &(start, word)) in words.iter().enumerate() {
        if skip == Some(i) {
            continue;
        }
        let prev_digit = lower[..start].chars().next_back().is_some_and(|c| c.is_ascii_digit());
        if word.as_bytes()[0].is_ascii_digit() && !prev_digit {
            if let Some((d, _)) = iso_prefix(&lower[start..]) {
                return Some(d);
            }
            if let Some(d) = numeric_dmy(word) {
                return Some(d);
            }
            // "12 avril 2025", "1er janvier 2025"
            if let (Some(day), Some(&(_, m)), Some(&(_, y))) = (day_number(word), words.get(i + 1), words.get(i + 2))
                && let (Some(month), Some(year)) = (month_number(m), year_number(y))
            {
                if let Some(d) = iso(year, month, Some(day)) {
                    return Some(d);
                }
                skip = Some(i + 1);
            }
        } else if let Some(month) = month_number(word) {
            // "April 12, 2025" / "avril 2025"
            match (words.get(i + 1), words.get(i + 2)) {
                (Some(&(_, d)), Some(&(_, y))) if day_number(d).is_some() && year_number(y).is_some() => {
                    if let Some(d) = iso(year_number(y)?, month, day_number(d)) {
                        return Some(d);
                    }
                }
                (Some(&(_, y)), _) if year_number(y).is_some() && word.len() > 3 => {
                    return iso(year_number(y)?, month, None);
                }
                _ => {}
            }
        }
    }
    None
}

/// Splits into words of letters/digits (plus `/`, `-`, `.` inside numbers), with byte offsets.
fn tokens(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        let inside = c.is_alphanumeric() || c == '°' || (start.is_some() && matches!(c, '/' | '-' | '.'));
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                out.push((st, s[st..i].trim_end_matches(['/', '-', '.'])));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, s[st..].trim_end_matches(['/', '-', '.'])));
    }
    out.retain(|(_, w)| !w.is_empty());
    out
}

fn numeric_dmy(word: &str) -> Option<String> {
    let parts: Vec<&str> = word.split(['/', '.', '-']).collect();
    if parts.len() != 3 || parts[2].len() != 4 || parts[0].len() > 2 || parts[1].len() > 2 {
        return None;
    }
    let day: u32 = parts[0].parse().ok()?;
    let month: u32 = parts[1].parse().ok()?;
    let year = year_number(parts[2])?;
    iso(year, month, Some(day))
}

fn day_number(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_alphabetic());
    let suffix = &word[digits.len()..];
    if digits.is_empty() || digits.len() > 2 || !matches!(suffix, "" | "er" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn year_number(word: &str) -> Option<u32> {
    if word.len() != 4 {
        return None;
    }
    word.parse().ok().filter(|y| (1900..=2100).contains(y))
}

fn month_number(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    Some(match w {
        "janvier" | "janv" | "january" | "jan" => 1,
        "février" | "fevrier" | "févr" | "fevr" | "fév" | "fev" | "february" | "feb" => 2,
        "mars" | "march" | "mar" => 3,
        "avril" | "avr" | "april" | "apr" => 4,
        "mai" | "may" => 5,
        "juin" | "june" | "jun" => 6,
        "juillet" | "juil" | "july" | "jul" => 7,
        "août" | "aout" | "august" | "aug" => 8,
        "septembre" | "sept" | "september" | "sep" => 9,
        "octobre" | "october" | "oct" => 10,
        "novembre" | "november" | "nov" => 11,
        "décembre" | "decembre" | "déc" | "december" | "dec" => 12,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_prefixes() {
        assert_eq!(iso_prefix("2025-04 La"), Some(("2025-04".into(), 7)));
        assert_eq!(iso_prefix("2025-04-12T10:00"), Some(("2025-04-12".into(), 10)));
        assert_eq!(iso_prefix("2025/04/12"), Some(("2025-04-12".into(), 10)));
        assert_eq!(iso_prefix("2025-13"), None);
        assert_eq!(iso_prefix("20250"), None);
        assert_eq!(iso_prefix("1.000 partenaires"), None);
        assert_eq!(iso_prefix("2025-041"), None);
        assert_eq!(iso_prefix("2025-02-31"), None);
        assert_eq!(iso_prefix("2024-02-29"), Some(("2024-02-29".into(), 10)));
    }

    #[test]
    fn free_dates() {
        assert_eq!(find("Publié le 12 avril 2025 à 10h"), Some("2025-04-12".into()));
        assert_eq!(find("publié le 1er janvier 2024"), Some("2024-01-01".into()));
        assert_eq!(find("Published April 3, 2023"), Some("2023-04-03".into()));
        assert_eq!(find("mis à jour le 05/11/2022"), Some("2022-11-05".into()));
        assert_eq!(find("updated 2021-06-30T08:00:00Z"), Some("2021-06-30".into()));
        assert_eq!(find("en octobre 2022"), Some("2022-10".into()));
        assert_eq!(find("rien ici 12 pommes"), None);
        assert_eq!(find("le 31 février 2025"), None);
        assert_eq!(find("le 31/02/2025"), None);
    }

    #[test]
    fn normalize_fields() {
        assert_eq!(normalize("2025-04-12T10:00:00+02:00"), Some("2025-04-12".into()));
        assert_eq!(normalize(" 2025-04 "), Some("2025-04".into()));
        assert_eq!(normalize("hier"), Some("hier".into()));
        // Kept as found, so it reads as free text, never as a date.
        assert_eq!(normalize("2025-02-31"), Some("2025-02-31".into()));
        assert_eq!(PartialDate::from_stored("2025-02-31"), None);
        assert_eq!(normalize("  "), None);
    }
}

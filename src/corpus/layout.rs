//! Finding the body of an article in decoded text: title line, date line, kicker, boilerplate,
//! and paragraph grouping.
//!
//! Work happens on *units*: trimmed source lines (plain text, Markdown, JSONL bodies) or the
//! paragraphs the HTML extractor produced. Units are switched off (title, furniture) or trimmed
//! (a ` date 2025-04 ` prefix), then the surviving ones are grouped into `Article::blocks`.
//! Only ranges move; the text itself is never rewritten, so offsets stay valid.

use std::ops::Range;

use super::boilerplate::{self, Kind};
use super::dates;

/// What layout analysis found.
#[derive(Debug, Default)]
pub(super) struct Layout {
    pub title: Option<String>,
    pub date: Option<String>,
    /// From Markdown front matter.
    pub lang: Option<String>,
    /// From Markdown front matter.
    pub url: Option<String>,
    pub blocks: Vec<Range<usize>>,
}

#[derive(Debug, Clone)]
struct Unit {
    /// Trimmed content range.
    span: Range<usize>,
    /// Source line index (lines mode); units with consecutive `line` may share a block.
    line: usize,
    keep: bool,
    /// Must start / end a block (Markdown headings, list items, code).
    starts: bool,
    ends: bool,
}

impl Unit {
    fn new(span: Range<usize>, line: usize) -> Unit {
        Unit {
            span,
            line,
            keep: true,
            starts: false,
            ends: false,
        }
    }
}

/// Whitespace for trimming purposes, including the invisible characters scraped text carries.
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200b}' | '\u{feff}' | '\u{2060}')
}

/// `r` without surrounding whitespace (empty at `r.start` when nothing is left).
pub(super) fn trim_range(text: &str, r: Range<usize>) -> Range<usize> {
    let Some(s) = text.get(r.clone()) else {
        return r.start..r.start;
    };
    let start = r.start + (s.len() - s.trim_start_matches(is_space).len());
    let end = r.start + s.trim_end_matches(is_space).len();
    if start >= end { r.start..r.start } else { start..end }
}

/// Collapses whitespace (NBSP included) into single spaces.
pub(super) fn clean_title(s: &str) -> String {
    s.split(is_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lowercase alphanumerics only: how titles are compared with text lines.
fn norm_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Analyses plain text (Markdown when `markdown`); `known_title` comes from metadata.
pub(super) fn analyze_lines(text: &str, markdown: bool, known_title: Option<&str>) -> Layout {
    let mut lines = Vec::new();
    let mut start = 0;
    for part in text.split('\n') {
        lines.push(start..start + part.len());
        start += part.len() + 1;
    }
    let mut layout = Layout::default();
    let mut known: Vec<String> = known_title.map(str::to_string).into_iter().collect();
    let mut units;
    if markdown {
        let md = markdown_units(text, &lines);
        units = md.units;
        layout.lang = md.lang;
        layout.url = md.url;
        layout.date = md.date;
        layout.title = md.title.clone();
        known.extend(md.title);
    } else {
        units = lines
            .iter()
            .enumerate()
            .map(|(i, r)| Unit::new(trim_range(text, r.clone()), i))
            .filter(|u| !u.span.is_empty())
            .collect();
    }
    let guess = known.is_empty();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    let (title, date) = refine(text, &mut units, &known_refs, guess, guess && !markdown);
    layout.title = layout.title.or(title);
    layout.date = layout.date.or(date);
    layout.blocks = group_lines(text, &units);
    layout
}

/// Analyses paragraphs already delimited (HTML); `titles` are headline strings to drop.
/// Consecutive list items count as adjacent lines (a list of teaser links), other paragraphs
/// as separated by a blank line.
pub(super) fn analyze_units(text: &str, paragraphs: &[Range<usize>], list_items: &[bool], titles: &[&str]) -> Layout {
    let is_li = |k: usize| list_items.get(k).copied().unwrap_or(false);
    let mut units: Vec<Unit> = Vec::with_capacity(paragraphs.len());
    let mut line = 0;
    for (i, r) in paragraphs.iter().enumerate() {
        line += if i > 0 && is_li(i) && is_li(i - 1) { 1 } else { 2 };
        let span = trim_range(text, r.clone());
        if !span.is_empty() {
            units.push(Unit::new(span, line));
        }
    }
    // Pages name their title in markup; a first paragraph is not guessed to be one.
    let (title, date) = refine(text, &mut units, titles, false, false);
    Layout {
        title,
        date,
        blocks: units.iter().filter(|u| u.keep).map(|u| u.span.clone()).collect(),
        ..Layout::default()
    }
}

/// Switches off title, kicker and furniture units; trims the date prefix. Returns the title
/// (when guessed) and the date found in the text.
fn refine(
    text: &str,
    units: &mut [Unit],
    known_titles: &[&str],
    guess_title: bool,
    kicker: bool,
) -> (Option<String>, Option<String>) {
    let mut date = None;

    // The seeds open with " date 2025-04 " glued to the first paragraph.
    for u in units.iter_mut().filter(|u| u.keep).take(8) {
        if let Some((d, consumed)) = date_prefix(&text[u.span.clone()]) {
            date = Some(d);
            u.span = trim_range(text, u.span.start + consumed..u.span.end);
            u.keep = !u.span.is_empty();
            break;
        }
    }

    for t in known_titles {
        let key = norm_key(t);
        if key.is_empty() {
            continue;
        }
        if let Some(u) = units
            .iter_mut()
            .filter(|u| u.keep)
            .take(3)
            .find(|u| norm_key(&text[u.span.clone()]) == key)
        {
            u.keep = false;
        }
    }

    let mut title = None;
    if guess_title {
        let kept: Vec<usize> = (0..units.len()).filter(|&i| units[i].keep).take(3).collect();
        if let (Some(&i), Some(&next)) = (kept.first(), kept.get(1)) {
            let t = &text[units[i].span.clone()];
            let blank_after = units[next].line > units[i].line + 1;
            if title_like(t, blank_after) {
                title = Some(clean_title(t));
                units[i].keep = false;
                if kicker && is_kicker(text, units, next, kept.get(2).copied()) {
                    units[next].keep = false;
                }
            }
        }
    }

    strip_boilerplate(text, units, &mut date);
    (title, date)
}

/// `date 2025-04` (or a bare ISO date) at the start of a line: the date and bytes consumed.
fn date_prefix(t: &str) -> Option<(String, usize)> {
    if let Some((d, len)) = dates::iso_prefix(t) {
        return (len == t.len()).then_some((d, len));
    }
    let head = t.get(..4)?;
    if !head.eq_ignore_ascii_case("date") {
        return None;
    }
    let rest = &t[4..];
    let after = rest.trim_start_matches(|c: char| is_space(c) || c == ':');
    if after.len() == rest.len() {
        return None;
    }
    let (d, len) = dates::iso_prefix(after)?;
    Some((d, t.len() - after.len() + len))
}

/// Does the first line read as a headline?
fn title_like(t: &str, blank_after: bool) -> bool {
    let chars = t.chars().count();
    let words = t.split_whitespace().count();
    if !(2..=200).contains(&chars) || words > 30 {
        return false;
    }
    if t.starts_with(|c: char| c.is_lowercase()) || t.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("date ")) {
        return false;
    }
    if t.ends_with([',', ';', ':']) || has_inner_sentence_break(t) {
        return false;
    }
    if t.ends_with('.') && !t.ends_with("...") {
        // A headline with a final period must be short and stand alone.
        return words <= 10 && blank_after;
    }
    true
}

/// ". X" inside the line: several sentences, so a paragraph rather than a headline.
fn has_inner_sentence_break(t: &str) -> bool {
    let mut chars = t.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if matches!(c, '.' | '!' | '?') {
            let mut saw_space = false;
            while let Some(&(_, n)) = chars.peek() {
                if is_space(n) {
                    saw_space = true;
                    chars.next();
                } else {
                    if saw_space && n.is_uppercase() {
                        return true;
                    }
                    break;
                }
            }
        }
    }
    false
}

/// A one-to-three word rubric ("Cloud") between the headline and a body paragraph.
fn is_kicker(text: &str, units: &[Unit], k: usize, after: Option<usize>) -> bool {
    let t = &text[units[k].span.clone()];
    let Some(after) = after else { return false };
    let body = &text[units[after].span.clone()];
    t.chars().count() <= 40
        && t.split_whitespace().count() <= 3
        && !t.ends_with(['.', '!', '?', ':', ';', ','])
        && t.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit())
        && units[after].line > units[k].line + 1
        && body.chars().count() >= 80
}

fn strip_boilerplate(text: &str, units: &mut [Unit], date: &mut Option<String>) {
    let n = units.len();
    let mut kept_before = 0;
    let mut i = 0;
    while i < n {
        if !units[i].keep {
            i += 1;
            continue;
        }
        match boilerplate::classify(&text[units[i].span.clone()]) {
            None => kept_before += 1,
            Some(Kind::Drop) => units[i].keep = false,
            Some(Kind::DateMeta(d)) => {
                units[i].keep = false;
                date.get_or_insert(d);
            }
            Some(Kind::CommentsStart) => {
                units[i].keep = false;
                // After some article text, everything below is the comment section.
                if kept_before >= 2 {
                    for u in &mut units[i + 1..] {
                        u.keep = false;
                    }
                    return;
                }
            }
            Some(Kind::Teaser { bare }) => {
                units[i].keep = false;
                if bare {
                    drop_teaser_targets(text, units, i);
                }
            }
        }
        i += 1;
    }
}

/// After a bare "Lire aussi :", drop the linked headline: the next unit, plus following lines
/// directly below it (a list of links), while they read as headlines.
fn drop_teaser_targets(text: &str, units: &mut [Unit], label: usize) {
    let mut prev_line = units[label].line;
    let mut dropped = 0;
    for j in label + 1..units.len() {
        if !units[j].keep {
            continue;
        }
        let adjacent = units[j].line == prev_line + 1;
        if (dropped > 0 && !adjacent) || dropped >= 5 {
            break;
        }
        if !boilerplate::teaser_target(&text[units[j].span.clone()]) {
            break;
        }
        units[j].keep = false;
        prev_line = units[j].line;
        dropped += 1;
    }
}

/// Groups kept lines into paragraphs: blank lines separate, and so does a line ending a
/// sentence (one paragraph per line, as in the seeds). Hard-wrapped prose stays together.
fn group_lines(text: &str, units: &[Unit]) -> Vec<Range<usize>> {
    let mut blocks: Vec<Range<usize>> = Vec::new();
    let mut prev: Option<&Unit> = None;
    for u in units.iter().filter(|u| u.keep) {
        let join = prev.is_some_and(|p| {
            u.line == p.line + 1
                && !u.starts
                && !p.ends
                && !breaks_between(&text[p.span.clone()], &text[u.span.clone()])
        });
        match blocks.last_mut() {
            Some(b) if join => b.end = u.span.end,
            _ => blocks.push(u.span.clone()),
        }
        prev = Some(u);
    }
    blocks
}

/// Should two adjacent lines be separate paragraphs?
fn breaks_between(prev: &str, next: &str) -> bool {
    let p = prev.trim_end_matches(|c: char| matches!(c, '»' | '”' | '"' | '’' | '\'' | ')' | ']') || is_space(c));
    if p.ends_with(['.', '!', '?', '…', ':']) {
        return true;
    }
    // A short unpunctuated line above a longer capitalised one is a heading.
    let (pc, nc) = (prev.chars().count(), next.chars().count());
    let next_opens = next.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit() || matches!(c, '«' | '“' | '"'));
    pc < 60 && pc * 2 < nc && next_opens && !p.ends_with([',', ';', '-', '–'])
}

struct Markdown {
    units: Vec<Unit>,
    title: Option<String>,
    date: Option<String>,
    lang: Option<String>,
    url: Option<String>,
}

/// Markdown lines as units: front matter read and dropped, markers stripped from the ranges,
/// headings and list items kept as their own paragraphs, the first `# ` heading taken as title.
fn markdown_units(text: &str, lines: &[Range<usize>]) -> Markdown {
    let mut md = Markdown {
        units: Vec::new(),
        title: None,
        date: None,
        lang: None,
        url: None,
    };
    let line_text = |i: usize| text[lines[i].clone()].trim_matches(is_space);
    let mut first = 0;
    if !lines.is_empty()
        && line_text(0) == "---"
        && let Some(end) = (1..lines.len()).find(|&i| matches!(line_text(i), "---" | "..."))
    {
        for i in 1..end {
            front_matter_entry(line_text(i), &mut md);
        }
        first = end + 1;
    }
    let fm_title = md.title.clone();
    let mut fence: Option<&str> = None;
    let mut h1: Option<usize> = None;
    for (i, line) in lines.iter().enumerate().skip(first) {
        let r = trim_range(text, line.clone());
        if r.is_empty() {
            continue;
        }
        let t = &text[r.clone()];
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            } else {
                md.units.push(Unit {
                    starts: true,
                    ends: true,
                    ..Unit::new(r, i)
                });
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
            continue;
        }
        if (t.starts_with("<!--") && t.ends_with("-->")) || is_reference_definition(t) || is_table_rule(t) {
            continue;
        }
        // Image-only lines.
        if (t.starts_with("![") || t.starts_with("[![")) && t.ends_with(')') && t.contains("](") {
            continue;
        }
        if is_rule(t) {
            // Setext underline: the line above is a heading.
            if let Some(prev) = md.units.last_mut().filter(|u| u.line + 1 == i && !u.starts) {
                prev.starts = true;
                prev.ends = true;
                if t.starts_with('=') && h1.is_none() {
                    h1 = Some(md.units.len() - 1);
                }
            }
            continue;
        }
        let hashes = t.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with([' ', '\t']) {
            let inner = t[hashes..].trim_end_matches(['#', ' ', '\t']);
            let span = trim_range(text, r.start + hashes..r.start + hashes + inner.len());
            if span.is_empty() {
                continue;
            }
            if hashes == 1 && h1.is_none() {
                h1 = Some(md.units.len());
            }
            md.units.push(Unit {
                starts: true,
                ends: true,
                ..Unit::new(span, i)
            });
            continue;
        }
        let (skip, list) = marker_len(t);
        let span = trim_range(text, r.start + skip..r.end);
        if !span.is_empty() {
            md.units.push(Unit {
                starts: list,
                ..Unit::new(span, i)
            });
        }
    }
    if let Some(h) = h1 {
        let heading = clean_title(&text[md.units[h].span.clone()]);
        // The headline is the title line unless front matter named a different title and the
        // heading sits further down.
        if fm_title.is_none() || h == 0 || fm_title.as_deref().map(norm_key) == Some(norm_key(&heading)) {
            md.units[h].keep = false;
        }
        md.title = md.title.or(Some(heading));
    }
    md
}

fn front_matter_entry(line: &str, md: &mut Markdown) {
    let Some((key, value)) = line.split_once(':') else {
        return;
    };
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if value.is_empty() {
        return;
    }
    match key.trim().to_ascii_lowercase().as_str() {
        "title" => md.title = Some(clean_title(value)),
        "date" | "published" | "pubdate" | "date_published" | "published_at" => {
            md.date = md.date.take().or_else(|| dates::normalize(value));
        }
        "lang" | "language" | "locale" => md.lang = crate::lang::normalize(value),
        "url" | "link" | "source" | "source_url" | "canonical_url" if value.starts_with("http") => {
            md.url = Some(value.to_string());
        }
        _ => {}
    }
}

/// Bytes of block markers (`> `, `- `, `1. `) at the start of a Markdown line; true for lists.
fn marker_len(t: &str) -> (usize, bool) {
    let mut i = 0;
    let b = t.as_bytes();
    while b.get(i) == Some(&b'>') {
        i += 1;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'-' | b'*' | b'+')) && b.get(i + 1) == Some(&b' ') {
        return (i + 2, true);
    }
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=3).contains(&digits)
        && matches!(b.get(i + digits), Some(b'.' | b')'))
        && b.get(i + digits + 1) == Some(&b' ')
    {
        return (i + digits + 2, true);
    }
    (i, false)
}

fn is_rule(t: &str) -> bool {
    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3
        && (t.bytes().all(|b| b == b'-')
            || t.bytes().all(|b| b == b'=')
            || t.bytes().all(|b| b == b'*')
            || t.bytes().all(|b| b == b'_'))
}

fn is_table_rule(t: &str) -> bool {
    t.contains('-') && t.contains('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

fn is_reference_definition(t: &str) -> bool {
    t.starts_with('[')
        && t.find("]:").is_some_and(|i| {
            let target = t[i + 2..].trim_start();
            i > 1 && (target.starts_with("http") || target.starts_with('/') || target.starts_with('<'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &str, l: &Layout) -> Vec<String> {
        l.blocks.iter().map(|r| text[r.clone()].to_string()).collect()
    }

    #[test]
    fn title_kicker_and_teaser() {
        let text = "Huawei se fait épauler par IBM\n\nCloud\n\nHuawei veut tripler son chiffre d’affaires en 10 ans, mais souffre d’un déficit d’image.\n\nIl fournit également des services cloud.\n\n\u{a0}\n\nLire aussi :";
        let l = analyze_lines(text, false, None);
        assert_eq!(l.title.as_deref(), Some("Huawei se fait épauler par IBM"));
        let b = blocks(text, &l);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0].starts_with("Huawei veut"));
    }

    #[test]
    fn glued_date_prefix() {
        let text =
            " date 2025-04 La Huawei European Partner Conference 2025 a réuni plus de 1.000 partenaires.\n\nSuite.";
        let l = analyze_lines(text, false, None);
        assert_eq!(l.date.as_deref(), Some("2025-04"));
        assert_eq!(l.title, None);
        assert!(blocks(text, &l)[0].starts_with("La Huawei"));
    }

    #[test]
    fn teaser_with_headline_below() {
        let text = "Premier paragraphe de l'article, assez long pour être du contenu.\n\nLire aussi :\n\nHuawei et IBM renforcent leur alliance\n\nDernier paragraphe, toujours du contenu réel.";
        let l = analyze_lines(text, false, Some("Titre"));
        let b = blocks(text, &l);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[1].starts_with("Dernier"));
    }

    #[test]
    fn teaser_keeps_following_prose() {
        let text =
            "Premier paragraphe.\n\nLire aussi :\n\nLe groupe a ensuite annoncé un plan. Il prévoit 300 embauches.";
        let l = analyze_lines(text, false, Some("Titre"));
        assert_eq!(blocks(text, &l).len(), 2);
    }

    #[test]
    fn one_paragraph_per_line_and_hard_wraps() {
        let text = "Titre court\nPremière phrase du corps.\nDeuxième paragraphe qui est\ncoupé à la main sur deux lignes.\nCrédit photo : X";
        let l = analyze_lines(text, false, None);
        assert_eq!(l.title.as_deref(), Some("Titre court"));
        let b = blocks(text, &l);
        assert_eq!(
            b,
            vec![
                "Première phrase du corps.",
                "Deuxième paragraphe qui est\ncoupé à la main sur deux lignes."
            ]
        );
    }

    #[test]
    fn sentence_first_line_is_not_a_title() {
        let text = "On dit souvent que la meilleure défense, c’est l’attaque. Xiaomi le sait.\nSuite du texte.";
        assert_eq!(analyze_lines(text, false, None).title, None);
        let text = "Il pleut.\nEt il fait froid.";
        assert_eq!(analyze_lines(text, false, None).title, None);
    }

    #[test]
    fn comment_section_is_cut() {
        let text = "Titre\n\nCorps de l'article avec du texte.\n\nEncore du texte utile ici.\n\nLaisser un commentaire\n\nJean : super article !\n\nCe site utilise Akismet pour réduire les indésirables.";
        let l = analyze_lines(text, false, None);
        let b = blocks(text, &l);
        assert_eq!(b.len(), 2, "{b:?}");
    }

    #[test]
    fn markdown_structure() {
        let text = "---\ntitle: \"Le titre\"\ndate: 2024-03-05\nlang: fr\n---\n# Le titre\n\n![photo](x.jpg)\n\nPremier paragraphe.\n\n## Un intertitre\n- point un\n- point deux\n\n> citation\n";
        let l = analyze_lines(text, true, None);
        assert_eq!(l.title.as_deref(), Some("Le titre"));
        assert_eq!(l.date.as_deref(), Some("2024-03-05"));
        assert_eq!(l.lang.as_deref(), Some("fr"));
        assert_eq!(
            blocks(text, &l),
            vec![
                "Premier paragraphe.",
                "Un intertitre",
                "point un",
                "point deux",
                "citation"
            ]
        );
    }

    #[test]
    fn markdown_setext_title() {
        let text = "Le titre\n========\n\nCorps du texte.\n";
        let l = analyze_lines(text, true, None);
        assert_eq!(l.title.as_deref(), Some("Le titre"));
        assert_eq!(blocks(text, &l), vec!["Corps du texte."]);
    }

    #[test]
    fn known_title_line_is_dropped() {
        let text = "Le Titre !\n\nLe corps.";
        let l = analyze_lines(text, false, Some("Le titre"));
        assert_eq!(blocks(text, &l), vec!["Le corps."]);
    }

    #[test]
    fn date_meta_line() {
        let text = "Titre\n\nPublié le 12 avril 2025 à 10h32\n\nLe corps du texte, avec assez de mots pour être un paragraphe.";
        let l = analyze_lines(text, false, None);
        assert_eq!(l.date.as_deref(), Some("2025-04-12"));
        assert_eq!(l.blocks.len(), 1);
    }
}

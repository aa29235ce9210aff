//! Finding the body of an article in decoded text: title line, date line, kicker, boilerplate,
//! and paragraph grouping.
//!
//! Work happens on *units*: trimmed source lines (plain text, JSONL bodies), the lines of
//! Markdown's visible text, or the paragraphs the HTML extractor produced. Units are switched off
//! (title, furniture) or trimmed (a ` date 2025-04 ` prefix), then the surviving ones are grouped
//! into `Article::blocks`. Only ranges move; the text itself is never rewritten here, so offsets
//! stay valid.
//!
//! Markdown is parsed by pulldown-cmark (with source offsets), not by hand: its visible text
//! (emphasis markers, link targets, images and raw HTML dropped; link and code text kept) is
//! written line for line with the source, so the article text has the file's line count and a
//! citation's lines are the file's lines. Block boundaries (headings, list items, quotes, code
//! lines) come from the parser; the French heuristics above still decide what is body.

use std::ops::Range;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

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

/// Analyses plain text; `known_title` comes from metadata.
pub(super) fn analyze_lines(text: &str, known_title: Option<&str>) -> Layout {
    let mut units = Vec::new();
    let mut start = 0;
    for (i, part) in text.split('\n').enumerate() {
        let span = trim_range(text, start..start + part.len());
        if !span.is_empty() {
            units.push(Unit::new(span, i));
        }
        start += part.len() + 1;
    }
    let known: Vec<&str> = known_title.into_iter().collect();
    finish_lines(text, units, Layout::default(), &known, false)
}

/// Analyses Markdown: returns its visible text (line for line with `src`) and the layout of it.
pub(super) fn analyze_markdown(src: &str) -> (String, Layout) {
    let md = markdown_units(src);
    let layout = Layout {
        title: md.title.clone(),
        date: md.date,
        lang: md.lang,
        url: md.url,
        blocks: Vec::new(),
    };
    let known: Vec<&str> = md.title.as_deref().into_iter().collect();
    let layout = finish_lines(&md.text, md.units, layout, &known, true);
    (md.text, layout)
}

/// Title, date and boilerplate on line units, then paragraphs.
fn finish_lines(text: &str, mut units: Vec<Unit>, mut layout: Layout, known: &[&str], markdown: bool) -> Layout {
    let guess = known.is_empty();
    let (title, date) = refine(text, &mut units, known, guess, guess && !markdown);
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
    /// The visible text, line for line with the source (same `\n` count, each piece of text on
    /// the line it came from): markers, emphasis, link targets and images are gone.
    text: String,
    units: Vec<Unit>,
    title: Option<String>,
    date: Option<String>,
    lang: Option<String>,
    url: Option<String>,
}

/// What a Markdown block is, for its units' boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MdBlock {
    Prose,
    Heading {
        h1: bool,
    },
    /// Every line of code stands alone.
    Code,
}

/// Writes the visible text of Markdown events on the source lines they came from.
struct MdWriter {
    /// Byte offset of each source line.
    line_starts: Vec<usize>,
    text: String,
    /// Line the end of `text` is on (0-based).
    line: usize,
    /// The open block: where its text starts in `text`, its line, and its kind.
    block: (usize, usize, MdBlock),
    units: Vec<Unit>,
    /// Unit indices of the first level-1 heading.
    h1: Option<Range<usize>>,
}

impl MdWriter {
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// Moves the end of `text` down to `line` (never past the last source line, never up).
    fn align(&mut self, line: usize) {
        let line = line.min(self.line_starts.len().saturating_sub(1));
        if line > self.line {
            self.text.extend(std::iter::repeat_n('\n', line - self.line));
            self.line = line;
        }
    }

    /// Visible text that starts at source offset `at`; its own newlines follow the source's.
    fn put(&mut self, s: &str, at: usize) {
        let first = self.line_of(at);
        for (k, piece) in s.split('\n').enumerate() {
            if !piece.is_empty() {
                self.align(first + k);
                self.text.push_str(piece);
            }
        }
    }

    /// Ends the open block: one unit per non-empty line, the block's first unit starting a
    /// paragraph and its last ending one, so that blocks never merge.
    fn flush(&mut self, next: MdBlock) {
        let (start, mut line, kind) = std::mem::replace(&mut self.block, (self.text.len(), self.line, next));
        let first = self.units.len();
        let mut at = start;
        for piece in self.text[start..].split('\n') {
            let span = trim_range(&self.text, at..at + piece.len());
            if !span.is_empty() {
                self.units.push(Unit {
                    starts: kind == MdBlock::Code,
                    ends: kind == MdBlock::Code,
                    ..Unit::new(span, line)
                });
            }
            at += piece.len() + 1;
            line += 1;
        }
        if self.units.len() > first {
            self.units[first].starts = true;
            let last = self.units.len() - 1;
            self.units[last].ends = true;
            if kind == (MdBlock::Heading { h1: true }) && self.h1.is_none() {
                self.h1 = Some(first..self.units.len());
            }
        }
    }
}

/// Markdown as units, by pulldown-cmark: front matter read and dropped, the text rewritten to
/// its visible words on their source lines, headings, list items, quotes and code keeping their
/// block boundaries, the first level-1 heading taken as title.
fn markdown_units(src: &str) -> Markdown {
    let mut md = Markdown {
        text: String::new(),
        units: Vec::new(),
        title: None,
        date: None,
        lang: None,
        url: None,
    };
    let mut lines = Vec::new();
    let mut start = 0;
    for part in src.split('\n') {
        lines.push(start..start + part.len());
        start += part.len() + 1;
    }
    // Front matter stays hand-read: it is looser than the parser's metadata blocks (a blank
    // line after `---` is fine) and only ever a few `key: value` lines.
    let line_text = |i: usize| src[lines[i].clone()].trim_matches(is_space);
    let mut body = 0;
    if !lines.is_empty()
        && line_text(0) == "---"
        && let Some(end) = (1..lines.len()).find(|&i| matches!(line_text(i), "---" | "..."))
    {
        for i in 1..end {
            front_matter_entry(line_text(i), &mut md);
        }
        body = lines.get(end + 1).map_or(src.len(), |r| r.start);
    }
    let fm_title = md.title.clone();
    let mut w = MdWriter {
        line_starts: lines.iter().map(|r| r.start).collect(),
        text: String::with_capacity(src.len()),
        line: 0,
        block: (0, 0, MdBlock::Prose),
        units: Vec::new(),
        h1: None,
    };
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Inside an image: its alt text is not article text.
    let mut image = 0u32;
    for (event, range) in Parser::new_ext(&src[body..], options).into_offset_iter() {
        let at = body + range.start;
        match event {
            Event::Text(t) | Event::Code(t) if image == 0 => w.put(&t, at),
            Event::Start(Tag::Image { .. }) => image += 1,
            Event::End(TagEnd::Image) => image = image.saturating_sub(1),
            Event::Start(
                Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Superscript | Tag::Subscript | Tag::Link { .. },
            )
            | Event::End(
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Superscript
                | TagEnd::Subscript
                | TagEnd::Link,
            )
            | Event::Start(Tag::TableCell) => {}
            // Cells of a row read as one line.
            Event::End(TagEnd::TableCell) => w.text.push(' '),
            Event::Start(Tag::Heading { level, .. }) => w.flush(MdBlock::Heading {
                h1: level == HeadingLevel::H1,
            }),
            Event::Start(Tag::CodeBlock(_)) => w.flush(MdBlock::Code),
            Event::Start(_) | Event::End(_) | Event::Rule => w.flush(MdBlock::Prose),
            // Raw HTML, footnote marks, task boxes, images' alt text: nothing to read.
            _ => {}
        }
    }
    w.flush(MdBlock::Prose);
    w.align(usize::MAX);
    md.text = w.text;
    md.units = w.units;
    if let Some(h) = w.h1 {
        let heading = clean_title(&md.text[md.units[h.start].span.start..md.units[h.end - 1].span.end]);
        // The headline is the title line unless front matter named a different title and the
        // heading sits further down.
        if fm_title.is_none() || h.start == 0 || fm_title.as_deref().map(norm_key) == Some(norm_key(&heading)) {
            for u in &mut md.units[h] {
                u.keep = false;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &str, l: &Layout) -> Vec<String> {
        l.blocks.iter().map(|r| text[r.clone()].to_string()).collect()
    }

    #[test]
    fn title_kicker_and_teaser() {
        let text = "Huawei se fait épauler par IBM\n\nCloud\n\nHuawei veut tripler son chiffre d’affaires en 10 ans, mais souffre d’un déficit d’image.\n\nIl fournit également des services cloud.\n\n\u{a0}\n\nLire aussi :";
        let l = analyze_lines(text, None);
        assert_eq!(l.title.as_deref(), Some("Huawei se fait épauler par IBM"));
        let b = blocks(text, &l);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0].starts_with("Huawei veut"));
    }

    #[test]
    fn glued_date_prefix() {
        let text =
            " date 2025-04 La Huawei European Partner Conference 2025 a réuni plus de 1.000 partenaires.\n\nSuite.";
        let l = analyze_lines(text, None);
        assert_eq!(l.date.as_deref(), Some("2025-04"));
        assert_eq!(l.title, None);
        assert!(blocks(text, &l)[0].starts_with("La Huawei"));
    }

    #[test]
    fn teaser_with_headline_below() {
        let text = "Premier paragraphe de l'article, assez long pour être du contenu.\n\nLire aussi :\n\nHuawei et IBM renforcent leur alliance\n\nDernier paragraphe, toujours du contenu réel.";
        let l = analyze_lines(text, Some("Titre"));
        let b = blocks(text, &l);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[1].starts_with("Dernier"));
    }

    #[test]
    fn teaser_keeps_following_prose() {
        let text =
            "Premier paragraphe.\n\nLire aussi :\n\nLe groupe a ensuite annoncé un plan. Il prévoit 300 embauches.";
        let l = analyze_lines(text, Some("Titre"));
        assert_eq!(blocks(text, &l).len(), 2);
    }

    #[test]
    fn one_paragraph_per_line_and_hard_wraps() {
        let text = "Titre court\nPremière phrase du corps.\nDeuxième paragraphe qui est\ncoupé à la main sur deux lignes.\nCrédit photo : X";
        let l = analyze_lines(text, None);
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
        assert_eq!(analyze_lines(text, None).title, None);
        let text = "Il pleut.\nEt il fait froid.";
        assert_eq!(analyze_lines(text, None).title, None);
    }

    #[test]
    fn comment_section_is_cut() {
        let text = "Titre\n\nCorps de l'article avec du texte.\n\nEncore du texte utile ici.\n\nLaisser un commentaire\n\nJean : super article !\n\nCe site utilise Akismet pour réduire les indésirables.";
        let l = analyze_lines(text, None);
        let b = blocks(text, &l);
        assert_eq!(b.len(), 2, "{b:?}");
    }

    #[test]
    fn markdown_structure() {
        let text = "---\ntitle: \"Le titre\"\ndate: 2024-03-05\nlang: fr\n---\n# Le titre\n\n![photo](x.jpg)\n\nPremier paragraphe.\n\n## Un intertitre\n- point un\n- point deux\n\n> citation\n";
        let (text, l) = analyze_markdown(text);
        let text = text.as_str();
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
        let (text, l) = analyze_markdown(text);
        assert_eq!(l.title.as_deref(), Some("Le titre"));
        assert_eq!(blocks(&text, &l), vec!["Corps du texte."]);
    }

    #[test]
    fn known_title_line_is_dropped() {
        let text = "Le Titre !\n\nLe corps.";
        let l = analyze_lines(text, Some("Le titre"));
        assert_eq!(blocks(text, &l), vec!["Le corps."]);
    }

    #[test]
    fn date_meta_line() {
        let text = "Titre\n\nPublié le 12 avril 2025 à 10h32\n\nLe corps du texte, avec assez de mots pour être un paragraphe.";
        let l = analyze_lines(text, None);
        assert_eq!(l.date.as_deref(), Some("2025-04-12"));
        assert_eq!(l.blocks.len(), 1);
    }
}

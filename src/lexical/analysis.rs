//! Text analysis for the BM25 index: the one place that decides which terms a text yields.
//!
//! Index and query go through the same code, so a change here changes what is on disk:
//! bump [`super::FORMAT_VERSION`] with it (old indexes are then refused with "rebuild").
//!
//! A text is cut into *words*: runs of letters and digits, joined through hyphens
//! (`P-DG`), apostrophes (`Xi'an`, `aujourd'hui`) and, between digits, `.` and `,`
//! (`1.000`, `862,1`). Each word yields *groups* of terms; the terms of one group are
//! variants of the same word (same token position), and the query side scores a group by
//! its best variant so that variants never add up.
//!
//! * French: elision removed (`l'`, `d’`, `qu'`, `jusqu'`…, straight or curly apostrophe),
//!   lowercase, Snowball French stem, then ASCII folding.
//! * English: possessive `'s` removed, lowercase, Snowball English stem, ASCII folding.
//! * Other or unknown languages: lowercase and ASCII folding only.
//!
//! Stem, then fold: Snowball French keys on accents (`-ité`, `-é`, `-ée`, `-ième`), so
//! stemming folded text loses rules. But users often type without accents, and a stem of
//! unaccented text can differ (`universite` stems to `universit`, `université` to
//! `univers`). So an accented word yields two variants, stem-then-fold and
//! fold-then-stem; an unaccented query word meets the second, an accented one the first.
//!
//! A hyphenated or apostrophed word yields one group per part plus one for the parts
//! glued together: `P-DG` gives `p`, `dg`, `pdg`, so `PDG` and `P-DG` meet.
//!
//! Numbers keep their digits and yield two variants: the raw form (`862,1`, `1.000`) and a
//! canonical one (`862.1`, `1000`) read with the language's conventions (French `,`
//! decimal and `.` thousands, English the reverse; other languages guess, `1.000` and
//! `1,000` being thousands). Digit groups split by one space of any kind (`25 000`,
//! `25 000`) also yield the glued number (`25000`) in an extra group.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, RawTokenizer, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// Analysis chosen from the article language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    Fr,
    En,
    /// Any other or unknown language: no stemming.
    Other,
}

impl Lang {
    /// Every analysis, in field order.
    pub const ALL: [Lang; 3] = [Lang::Fr, Lang::En, Lang::Other];

    /// Maps an article language tag (`fr`, `fr-FR`, `en`, `eng`, `French`…) to an analysis.
    pub fn from_tag(tag: Option<&str>) -> Lang {
        match tag.and_then(crate::lang::normalize).as_deref() {
            Some("fr") => Lang::Fr,
            Some("en") => Lang::En,
            _ => Lang::Other,
        }
    }

    /// Short code used in field and tokenizer names.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
            Lang::Other => "xx",
        }
    }
}

/// French elided forms, as in Lucene's French analyzer.
const ELISIONS: [&str; 13] = [
    "l", "m", "t", "qu", "n", "s", "j", "d", "c", "jusqu", "quoiqu", "lorsqu", "puisqu",
];

/// Words longer than this are junk (URLs, base64, glued tables) and are skipped.
const MAX_WORD_BYTES: usize = 64;

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}' | '\u{2018}' | '\u{00B4}')
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}')
}

/// A word: parts (byte ranges of `text`) and the connector kind between consecutive parts.
#[derive(Debug)]
struct Word {
    parts: Vec<(usize, usize)>,
    /// `true` for an apostrophe, `false` for a hyphen; `conns.len() == parts.len() - 1`.
    conns: Vec<bool>,
}

impl Word {
    fn start(&self) -> usize {
        self.parts[0].0
    }
    fn end(&self) -> usize {
        self.parts[self.parts.len() - 1].1
    }
}

/// Cuts `text` into words (see the module documentation).
fn words(text: &str) -> Vec<Word> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let end_of = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let digit_at = |i: usize| i < n && chars[i].1.is_ascii_digit();
    let alnum_at = |i: usize| i < n && chars[i].1.is_alphanumeric();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !chars[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let mut word = Word {
            parts: Vec::new(),
            conns: Vec::new(),
        };
        loop {
            let start = i;
            while i < n
                && (chars[i].1.is_alphanumeric()
                    || (matches!(chars[i].1, '.' | ',') && i > start && digit_at(i - 1) && digit_at(i + 1)))
            {
                i += 1;
            }
            word.parts.push((chars[start].0, end_of(i)));
            if i + 1 < n && alnum_at(i + 1) && (is_apostrophe(chars[i].1) || is_hyphen(chars[i].1)) {
                word.conns.push(is_apostrophe(chars[i].1));
                i += 1;
            } else {
                break;
            }
        }
        out.push(word);
    }
    out
}

/// Whether `s` is a number: ASCII digits with `.` or `,` between digits.
fn is_number(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
}

/// The canonical form of a number: no thousands separators, `.` as decimal point.
fn canonical_number(raw: &str, lang: Lang) -> String {
    let groups: Vec<&str> = raw.split(['.', ',']).collect();
    let seps: Vec<char> = raw.chars().filter(|c| matches!(c, '.' | ',')).collect();
    let Some(&last_sep) = seps.last() else {
        return raw.to_string();
    };
    let all_three = groups[1..].iter().all(|g| g.len() == 3);
    let thousands = || groups.concat();
    let decimal = |n_int: usize| -> String {
        let mut s = groups[..n_int].concat();
        s.push('.');
        s.push_str(&groups[n_int..].concat());
        s
    };
    if seps.iter().any(|&c| c != last_sep) {
        // Both kinds: the last one is the decimal point (`1.234,5`, `1,234.5`).
        if seps[..seps.len() - 1].iter().all(|&c| c != last_sep)
            && groups[1..groups.len() - 1].iter().all(|g| g.len() == 3)
        {
            return decimal(groups.len() - 1);
        }
        return raw.to_string();
    }
    if seps.len() >= 2 {
        // `1.000.000` is grouped; `1.2.3` is a version or a date: keep it as written.
        return if all_three { thousands() } else { raw.to_string() };
    }
    if !all_three {
        return decimal(1);
    }
    // One separator then exactly three digits: ambiguous, decided by the language.
    let is_thousands = match lang {
        Lang::Fr => last_sep == '.',
        Lang::En => last_sep == ',',
        Lang::Other => true,
    };
    if is_thousands { thousands() } else { decimal(1) }
}

/// The analysis pipeline of one language. Owns the tantivy analyzers it borrows mutably.
#[derive(Clone)]
pub struct Pipeline {
    lang: Lang,
    stemmer: Option<TextAnalyzer>,
    folder: TextAnalyzer,
}

impl Pipeline {
    pub fn new(lang: Lang) -> Pipeline {
        let stemmer = match lang {
            Lang::Fr => Some(Language::French),
            Lang::En => Some(Language::English),
            Lang::Other => None,
        }
        .map(|l| {
            TextAnalyzer::builder(RawTokenizer::default())
                .filter(Stemmer::new(l))
                .build()
        });
        Pipeline {
            lang,
            stemmer,
            folder: TextAnalyzer::builder(RawTokenizer::default())
                .filter(AsciiFoldingFilter)
                .build(),
        }
    }

    fn run(analyzer: &mut TextAnalyzer, s: &str) -> String {
        let mut stream = analyzer.token_stream(s);
        match stream.next() {
            Some(t) => t.text.clone(),
            None => s.to_string(),
        }
    }

    fn fold(&mut self, s: &str) -> String {
        if s.is_ascii() {
            s.to_string()
        } else {
            Self::run(&mut self.folder, s)
        }
    }

    fn stem(&mut self, s: &str) -> String {
        match &mut self.stemmer {
            Some(a) => Self::run(a, s),
            None => s.to_string(),
        }
    }

    /// The variants of one lowercased word part.
    fn variants(&mut self, w: &str, out: &mut Vec<String>) {
        out.clear();
        if is_number(w) {
            out.push(w.to_string());
            let c = canonical_number(w, self.lang);
            if c != w {
                out.push(c);
            }
            return;
        }
        let stemmed = self.stem(w);
        out.push(self.fold(&stemmed));
        if self.stemmer.is_some() && !w.is_ascii() {
            let folded = self.fold(w);
            let other = self.stem(&folded);
            if !out.contains(&other) {
                out.push(other);
            }
        }
    }

    /// Terms of `text` as groups of variants, with the byte range each group comes from.
    pub fn groups(&mut self, text: &str) -> Vec<(Vec<String>, (usize, usize))> {
        let words = words(text);
        let mut out: Vec<(Vec<String>, (usize, usize))> = Vec::new();
        let mut buf = Vec::new();
        let mut push = |this: &mut Pipeline, s: &str, range: (usize, usize), out: &mut Vec<_>| {
            if s.is_empty() || s.len() > MAX_WORD_BYTES {
                return;
            }
            this.variants(s, &mut buf);
            if !buf.is_empty() {
                out.push((buf.clone(), range));
            }
        };
        for (wi, word) in words.iter().enumerate() {
            let mut parts: Vec<(String, (usize, usize))> = word
                .parts
                .iter()
                .map(|&(a, b)| (text[a..b].to_lowercase(), (a, b)))
                .collect();
            let mut conns = word.conns.clone();
            if self.lang == Lang::Fr && conns.first() == Some(&true) && ELISIONS.contains(&parts[0].0.as_str()) {
                parts.remove(0);
                conns.remove(0);
            }
            if self.lang == Lang::En && conns.last() == Some(&true) && parts.last().is_some_and(|p| p.0 == "s") {
                parts.pop();
                conns.pop();
            }
            for (p, range) in &parts {
                push(self, p, *range, &mut out);
            }
            if parts.len() > 1 {
                let glued: String = parts.iter().map(|p| p.0.as_str()).collect();
                push(self, &glued, (word.start(), word.end()), &mut out);
            }
            // `25 000`, `1 234 567,5`: digit groups split by single spaces.
            let first = &text[word.start()..word.end()];
            if word.parts.len() == 1 && first.len() <= 3 && first.bytes().all(|b| b.is_ascii_digit()) {
                let mut glued = first.to_string();
                let mut end = word.end();
                let mut j = wi + 1;
                while let Some(next) = words.get(j) {
                    let gap = &text[end..next.start()];
                    let mut gap_chars = gap.chars();
                    let one_space = gap_chars.next().is_some_and(char::is_whitespace) && gap_chars.next().is_none();
                    let s = &text[next.start()..next.end()];
                    let lead = s.bytes().take_while(u8::is_ascii_digit).count();
                    if !(one_space && next.parts.len() == 1 && is_number(s) && lead == 3) {
                        break;
                    }
                    glued.push_str(s);
                    end = next.end();
                    j += 1;
                    if lead != s.len() {
                        // A decimal part ends the number.
                        break;
                    }
                }
                if j > wi + 1 {
                    push(self, &glued, (word.start(), end), &mut out);
                }
            }
        }
        out
    }
}

/// The tantivy tokenizer registered for a language field: the groups of [`Pipeline::groups`]
/// as tokens, one position per group.
#[derive(Clone)]
pub struct LexTokenizer {
    pipeline: Pipeline,
}

impl LexTokenizer {
    pub fn new(lang: Lang) -> LexTokenizer {
        LexTokenizer {
            pipeline: Pipeline::new(lang),
        }
    }
}

pub struct VecTokenStream {
    tokens: Vec<Token>,
    /// Index of the current token plus one; 0 before the first `advance`.
    at: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.at < self.tokens.len() {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn token(&self) -> &Token {
        &self.tokens[self.at.saturating_sub(1).min(self.tokens.len().saturating_sub(1))]
    }
    fn token_mut(&mut self) -> &mut Token {
        let i = self.at.saturating_sub(1).min(self.tokens.len().saturating_sub(1));
        &mut self.tokens[i]
    }
}

impl Tokenizer for LexTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        for (position, (variants, (from, to))) in self.pipeline.groups(text).into_iter().enumerate() {
            for text in variants {
                tokens.push(Token {
                    offset_from: from,
                    offset_to: to,
                    position,
                    text,
                    position_length: 1,
                });
            }
        }
        if tokens.is_empty() {
            // `token()` must not index an empty vector; `advance` never yields this one.
            return VecTokenStream {
                tokens: vec![Token::default()],
                at: 1,
            };
        }
        VecTokenStream { tokens, at: 0 }
    }
}

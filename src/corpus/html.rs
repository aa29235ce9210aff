//! HTML to readable text: html5ever's tokenizer reads the markup, this module decides what of it
//! is prose.
//!
//! The tokenizer (no tree builder, no DOM) brings the HTML5 rules this module does not want to
//! own: all 2,231 named entities, numeric references mapped as browsers do (`&#146;` is `’`,
//! `&#0;` is U+FFFD), and the spec's recovery from broken tags. On top of its token stream sit
//! the page-furniture rules, which are ours: scripts, styles, navigation, headers, footers,
//! asides, forms and furniture classes are dropped; block elements become paragraphs; title,
//! date, language and canonical URL are collected from the markup. The output keeps source line
//! numbers wherever the source has room: paragraph breaks reuse the page's own newlines (the
//! tokenizer reports the line of each token), so a citation's line in `Article::text` is the line
//! of the `.html` file (minified pages drift, they have one line anyway).

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};

use super::dates;
use super::layout::{clean_title, trim_range};

/// Text and metadata extracted from a page.
#[derive(Debug, Default)]
pub(super) struct Page {
    pub text: String,
    /// One range per paragraph of `text`.
    pub blocks: Vec<Range<usize>>,
    /// Per paragraph: it is a list item (links under "Lire aussi :" come as lists).
    pub list_items: Vec<bool>,
    pub title: Option<String>,
    /// Headline strings whose paragraph is the title line (first `<h1>`, chosen title).
    pub headlines: Vec<String>,
    pub date: Option<String>,
    /// From `<html lang>` or metadata; used when detection is unsure.
    pub lang: Option<String>,
    pub url: Option<String>,
}

/// How hard to prune. Pages whose content hides in a dropped element get a second chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Tags, roles and furniture class names.
    Strict,
    /// Tags and roles only.
    NoClass,
    /// Only elements that never hold prose.
    Minimal,
}

/// Elements whose content is not parsed as markup.
const RAW: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe",
];
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    "keygen",
];
const DROP: &[&str] = &[
    "head", "nav", "header", "footer", "aside", "noscript", "form", "svg", "math", "button", "select", "template",
    "menu", "dialog", "object", "canvas", "video", "audio", "map",
];
const DROP_MINIMAL: &[&str] = &[
    "head", "noscript", "svg", "math", "button", "select", "template", "object", "canvas", "video", "audio", "map",
];
const BLOCK: &[&str] = &[
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "br",
    "tr",
    "td",
    "th",
    "article",
    "section",
    "main",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "figure",
    "figcaption",
    "hr",
    "address",
    "caption",
    "center",
    "details",
    "summary",
    "body",
    "html",
    "header",
    "footer",
    "nav",
    "aside",
    "legend",
    "fieldset",
    "option",
    "form",
];
const DROP_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "dialog",
    "alertdialog",
    "menu",
    "menubar",
];
/// Class/id words of page furniture.
const FURNITURE: &[&str] = &[
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "share",
    "sharing",
    "sharedaddy",
    "social",
    "newsletter",
    "related",
    "relatedposts",
    "sidebar",
    "breadcrumb",
    "breadcrumbs",
    "advert",
    "advertisement",
    "ads",
    "ad",
    "adsense",
    "promo",
    "comments",
    "comment",
    "respond",
    "subscribe",
    "subscription",
    "popup",
    "modal",
    "widget",
    "widgets",
    "menu",
    "navbar",
    "nav",
    "navigation",
    "footer",
    "header",
    "masthead",
    "banner",
    "outbrain",
    "taboola",
    "paywall",
    "login",
    "signup",
    "tags",
];
/// Class/id words that mark the article itself: never dropped on class grounds.
const CONTENT: &[&str] = &[
    "content", "article", "post", "entry", "body", "story", "main", "text", "prose", "chapo", "lead",
];
const META_DATES: &[&str] = &[
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.date",
    "dcterms.created",
    "dcterms.issued",
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publication_date",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
];

/// Extracts readable text and metadata from a page.
pub(super) fn extract(src: &str) -> Page {
    let mut page = Extractor::run(src, Mode::Strict);
    for mode in [Mode::NoClass, Mode::Minimal] {
        let have = body_chars(&page);
        if have >= 200 {
            break;
        }
        let alt = Extractor::run(src, mode);
        if body_chars(&alt) > 2 * have {
            page = alt;
        }
    }
    page
}

fn body_chars(page: &Page) -> usize {
    page.blocks.iter().map(|r| r.len()).sum()
}

/// The encoding a page declares in its first bytes (`<meta charset=...>`).
pub(super) fn sniff_charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = bytes[..bytes.len().min(4096)].to_ascii_lowercase();
    let at = head.windows(8).position(|w| w == b"charset=")? + 8;
    let rest = &head[at..];
    let rest = &rest[rest.iter().take_while(|b| matches!(b, b'"' | b'\'' | b' ')).count()..];
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        .count();
    encoding_rs::Encoding::for_label(&rest[..len])
}

/// Paragraph writer that keeps output lines aligned with source lines when it can.
#[derive(Default)]
struct Out {
    text: String,
    /// 1-based line the end of `text` is on.
    line: u32,
    blocks: Vec<Range<usize>>,
    list_items: Vec<bool>,
    /// Start of the paragraph being written, and whether it sits in a list item.
    open: Option<(usize, bool)>,
    space: bool,
    /// Inside `<li>` now.
    in_li: bool,
}

impl Out {
    fn newlines(&mut self, n: u32) {
        self.text.extend(std::iter::repeat_n('\n', n as usize));
        self.line += n;
    }

    fn push(&mut self, s: &str, src_line: u32) {
        if s.is_empty() {
            return;
        }
        match self.open {
            None => {
                let n = if self.text.is_empty() {
                    src_line.saturating_sub(1)
                } else if src_line > self.line {
                    src_line - self.line
                } else {
                    2
                };
                self.newlines(n);
                self.open = Some((self.text.len(), self.in_li));
            }
            Some(_) if self.space => {
                if src_line > self.line {
                    self.newlines(src_line - self.line);
                } else {
                    self.text.push(' ');
                }
            }
            Some(_) => {}
        }
        self.space = false;
        self.text.push_str(s);
    }

    fn space(&mut self) {
        if self.open.is_some() {
            self.space = true;
        }
    }

    fn brk(&mut self) {
        if let Some((start, li)) = self.open.take() {
            let r = trim_range(&self.text, start..self.text.len());
            if !r.is_empty() {
                self.blocks.push(r);
                self.list_items.push(li);
            }
        }
        self.space = false;
    }
}

/// Per-page state, fed by html5ever's tokenizer through [`Sink`].
struct Extractor {
    /// Line the previous token ended on (html5ever reports the line after each token).
    line: u32,
    mode: Mode,
    out: Out,
    /// Inside a dropped element: its name and nesting depth.
    skip: Option<(String, u32)>,
    /// Inside a raw-text element (`<script>`, `<title>`, ...): its name. Its text is no prose.
    raw: Option<String>,
    /// Text of the first `<title>` while it is being read.
    title_buf: Option<String>,
    /// Open `<article>`/`<main>` elements: a `<header>` inside holds the headline and lead.
    article_depth: u32,
    doc_title: Option<String>,
    og_title: Option<String>,
    h1: Option<String>,
    h1_buf: Option<String>,
    meta_date: Option<String>,
    time_date: Option<String>,
    lang: Option<String>,
    canonical: Option<String>,
    og_url: Option<String>,
}

/// The tokenizer hands tokens to a shared sink; the state lives in a cell.
struct Sink(RefCell<Extractor>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<()> {
        self.0.borrow_mut().token(token, line_number)
    }
}

impl Extractor {
    fn new(mode: Mode) -> Self {
        Extractor {
            line: 1,
            mode,
            out: Out {
                line: 1,
                ..Out::default()
            },
            skip: None,
            raw: None,
            title_buf: None,
            article_depth: 0,
            doc_title: None,
            og_title: None,
            h1: None,
            h1_buf: None,
            meta_date: None,
            time_date: None,
            lang: None,
            canonical: None,
            og_url: None,
        }
    }

    /// Tokenizes `src` (html5ever: every named entity, the spec's recovery from broken markup)
    /// and applies the pruning rules to the token stream.
    fn run(src: &str, mode: Mode) -> Page {
        // A lone CR is a line break to html5ever but not to the line counts of citations.
        let src = if src.contains('\r') {
            Cow::Owned(src.replace('\r', " "))
        } else {
            Cow::Borrowed(src)
        };
        let tokenizer = Tokenizer::new(Sink(RefCell::new(Extractor::new(mode))), TokenizerOpts::default());
        let input = BufferQueue::default();
        input.push_back(StrTendril::from_slice(&src));
        // The sink never asks for a script to run nor for a change of encoding, so one feed
        // reads everything.
        let _ = tokenizer.feed(&input);
        tokenizer.end();
        tokenizer.sink.0.into_inner().finish()
    }

    fn token(&mut self, token: Token, line_number: u64) -> TokenSinkResult<()> {
        let line = u32::try_from(line_number).unwrap_or(u32::MAX);
        let result = match token {
            Token::CharacterTokens(s) => {
                self.chars(&s, line);
                TokenSinkResult::Continue
            }
            Token::TagToken(tag) => {
                self.line = self.line.max(line);
                match tag.kind {
                    TagKind::StartTag => self.start_tag(&tag),
                    TagKind::EndTag => {
                        self.end_tag(&tag.name);
                        TokenSinkResult::Continue
                    }
                }
            }
            // Comments, doctypes, NUL characters, parse errors: nothing to read.
            _ => TokenSinkResult::Continue,
        };
        self.line = self.line.max(line);
        result
    }

    /// A run of characters ending on source line `line`. Newlines of the source moved the
    /// tokenizer's line; a `&#10;` did not, and is a space like any other whitespace.
    fn chars(&mut self, s: &str, line: u32) {
        if let Some(tag) = &self.raw {
            if tag == "title"
                && let Some(buf) = &mut self.title_buf
            {
                buf.push_str(s);
            }
            return;
        }
        let newlines = u32::try_from(s.matches('\n').count()).unwrap_or(u32::MAX);
        let mut literal = line.saturating_sub(self.line).min(newlines);
        let mut at = line - literal;
        let mut word: Option<usize> = None;
        for (i, c) in s.char_indices() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
                if let Some(w) = word.take() {
                    self.text(&s[w..i], at);
                }
                self.space();
                if c == '\n' && literal > 0 {
                    literal -= 1;
                    at += 1;
                }
            } else if word.is_none() {
                word = Some(i);
            }
        }
        if let Some(w) = word {
            self.text(&s[w..], at);
        }
    }

    fn finish(mut self) -> Page {
        self.out.brk();
        if let Some(buf) = self.title_buf.take() {
            self.set_doc_title(&buf);
        }
        let h1 = self.h1.filter(|h| !h.is_empty());
        let named = self.og_title.or(self.doc_title).filter(|t| !t.is_empty());
        let title = match (&h1, &named) {
            (Some(h), Some(t)) if t.to_lowercase().contains(&h.to_lowercase()) => Some(h.clone()),
            (_, Some(t)) => Some(t.clone()),
            (Some(h), None) => Some(h.clone()),
            (None, None) => None,
        };
        let mut headlines: Vec<String> = h1.into_iter().collect();
        if let Some(t) = &title
            && !headlines.contains(t)
        {
            headlines.push(t.clone());
        }
        Page {
            text: self.out.text,
            blocks: self.out.blocks,
            list_items: self.out.list_items,
            title,
            headlines,
            date: self.meta_date.or(self.time_date),
            lang: self.lang,
            url: self.canonical.or(self.og_url),
        }
    }

    fn set_doc_title(&mut self, raw: &str) {
        let t = clean_title(raw);
        if self.doc_title.is_none() && !t.is_empty() {
            self.doc_title = Some(t);
        }
    }

    /// One word of visible text on source line `line`.
    fn text(&mut self, s: &str, line: u32) {
        // Soft hyphens and direction/joiner marks are invisible: they would split words.
        let invisible = |c: char| matches!(c, '\u{ad}' | '\u{200c}' | '\u{200d}' | '\u{200e}' | '\u{200f}');
        let s: Cow<'_, str> = if s.contains(invisible) {
            Cow::Owned(s.replace(invisible, ""))
        } else {
            Cow::Borrowed(s)
        };
        if let Some(buf) = &mut self.h1_buf {
            buf.push_str(&s);
        }
        if self.skip.is_none() {
            self.out.push(&s, line);
        }
    }

    fn space(&mut self) {
        if let Some(buf) = &mut self.h1_buf {
            buf.push(' ');
        }
        self.out.space();
    }

    fn start_tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        let attrs: Vec<(String, String)> = tag
            .attrs
            .iter()
            .take(64)
            .map(|a| (a.name.local.to_string(), a.value.to_string()))
            .collect();
        let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        match name {
            "meta" => self.meta(&attrs),
            "link"
                if attr("rel").is_some_and(|r| r.to_ascii_lowercase().split_whitespace().any(|w| w == "canonical")) =>
            {
                self.canonical = attr("href")
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string);
            }
            "html" => {
                if let Some(l) = attr("lang").or(attr("xml:lang")) {
                    self.lang = crate::lang::normalize(l);
                }
            }
            "time" if self.time_date.is_none() => {
                self.time_date = attr("datetime").and_then(dates::normalize);
            }
            _ => {}
        }
        if RAW.contains(&name) && !tag.self_closing {
            // The tree builder would switch the tokenizer to raw text here; the sink does.
            self.raw = Some(name.to_string());
            if name == "title" && self.doc_title.is_none() && self.title_buf.is_none() {
                self.title_buf = Some(String::new());
            }
            return TokenSinkResult::RawData(match name {
                "script" => RawKind::ScriptData,
                "title" | "textarea" => RawKind::Rcdata,
                _ => RawKind::Rawtext,
            });
        }
        if name == "h1" && self.h1.is_none() && self.h1_buf.is_none() {
            self.h1_buf = Some(String::new());
        }
        let void = tag.self_closing || VOID.contains(&name);
        if let Some((open, depth)) = &mut self.skip {
            if open == "head" && name == "body" {
                // `</head>` is optional: the body ends the head.
                self.skip = None;
            } else {
                if open == name && !void {
                    *depth += 1;
                }
                return TokenSinkResult::Continue;
            }
        }
        if !void && self.should_drop(name, &attrs) {
            self.out.brk();
            self.skip = Some((name.to_string(), 1));
            return TokenSinkResult::Continue;
        }
        if matches!(name, "article" | "main") && !void {
            self.article_depth += 1;
        }
        if BLOCK.contains(&name) {
            self.out.brk();
        }
        if name == "li" {
            self.out.in_li = true;
        }
        TokenSinkResult::Continue
    }

    fn end_tag(&mut self, name: &str) {
        if self.raw.as_deref() == Some(name) {
            self.raw = None;
            if name == "title"
                && let Some(buf) = self.title_buf.take()
            {
                self.set_doc_title(&buf);
            }
        }
        if name == "h1"
            && let Some(buf) = self.h1_buf.take()
        {
            let t = clean_title(&buf);
            if !t.is_empty() {
                self.h1 = Some(t);
            }
        }
        if let Some((open, depth)) = &mut self.skip {
            if open == name {
                *depth -= 1;
                if *depth == 0 {
                    self.skip = None;
                }
            }
            return;
        }
        if matches!(name, "article" | "main") {
            self.article_depth = self.article_depth.saturating_sub(1);
        }
        if BLOCK.contains(&name) {
            self.out.brk();
        }
        if matches!(name, "li" | "ul" | "ol") {
            self.out.in_li = false;
        }
    }

    fn should_drop(&self, name: &str, attrs: &[(String, String)]) -> bool {
        if self.mode == Mode::Minimal {
            return DROP_MINIMAL.contains(&name);
        }
        if DROP.contains(&name) {
            // An article's own header carries its headline and lead paragraph.
            return !(name == "header" && self.article_depth > 0);
        }
        for (k, v) in attrs {
            let v_lower = v.to_ascii_lowercase();
            let hidden = match k.as_str() {
                "hidden" => true,
                "aria-hidden" => v_lower == "true",
                "style" => v_lower.replace(' ', "").contains("display:none"),
                "role" => DROP_ROLES.contains(&v_lower.trim()),
                "class" | "id" => self.mode == Mode::Strict && furniture_class(&v_lower),
                _ => false,
            };
            if hidden {
                return true;
            }
        }
        false
    }

    fn meta(&mut self, attrs: &[(String, String)]) {
        let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.trim());
        let Some(key) = attr("name")
            .or(attr("property"))
            .or(attr("itemprop"))
            .or(attr("http-equiv"))
        else {
            return;
        };
        let Some(content) = attr("content").filter(|c| !c.is_empty()) else {
            return;
        };
        let key = key.to_ascii_lowercase();
        if META_DATES.contains(&key.as_str()) {
            if self.meta_date.is_none() {
                self.meta_date = dates::normalize(content);
            }
        } else if key == "og:title" || key == "twitter:title" {
            if self.og_title.is_none() {
                self.og_title = Some(clean_title(content));
            }
        } else if key == "og:url" {
            self.og_url = Some(content.to_string());
        } else if (key == "content-language" || key == "language" || key == "og:locale") && self.lang.is_none() {
            self.lang = crate::lang::normalize(content);
        }
    }
}

fn furniture_class(v: &str) -> bool {
    let words = || v.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    !words().any(|w| CONTENT.contains(&w)) && words().any(|w| FURNITURE.contains(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paragraphs(p: &Page) -> Vec<&str> {
        p.blocks.iter().map(|r| &p.text[r.clone()]).collect()
    }

    /// The visible text of one paragraph.
    fn decode_entities(s: &str) -> String {
        paragraphs(&extract(&format!("<p>{s}</p>"))).concat()
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("caf&eacute; &amp; th&#233; &#xE9;t&eacute;&nbsp;!&hellip; &#146; &bogus; & x"),
            "café & thé été\u{a0}!… ’ &bogus; & x"
        );
        assert_eq!(decode_entities("&#0; &#99999999; &#x;"), "\u{fffd} \u{fffd} &#x;");
    }

    /// The full HTML5 table, not just the Latin-1 and punctuation names.
    #[test]
    fn every_named_entity() {
        assert_eq!(
            decode_entities(
                "&hellip; &OElig;uvre &nbsp; &eacute;t&eacute; l&rsquo;an &NotEqualTilde; &Zopf; &amp &lt3"
            ),
            "… Œuvre \u{a0} été l’an \u{2242}\u{338} \u{2124} & <3"
        );
        // Soft hyphens and joiners do not split words; a `&#10;` is a space, not a line.
        assert_eq!(
            decode_entities("d&eacute;ve&shy;lop&zwj;pement&#10;fin"),
            "développement fin"
        );
        // Control characters decode as themselves: the terminal output escapes them.
        assert_eq!(decode_entities("a&#27;[2Jb"), "a\u{1b}[2Jb");
    }

    #[test]
    fn entities_in_attributes_and_title() {
        let page = extract(
            "<html><head><title>Caf&eacute; &amp; th&eacute;</title><meta property=\"og:title\" content=\"L&rsquo;&eacute;t&eacute;\"></head><body><p>Texte.</p></body></html>",
        );
        assert_eq!(page.title.as_deref(), Some("L’été"));
        let page = extract("<title>Caf&eacute; <b>&amp;</b> th&eacute;</title><p>Texte.</p>");
        assert_eq!(page.title.as_deref(), Some("Café <b>&</b> thé"));
    }

    #[test]
    fn drops_furniture_and_keeps_lines() {
        let src = "<!doctype html>\n<html lang=\"fr-FR\">\n<head>\n<title>Le titre &amp; la suite | Site</title>\n<meta property=\"article:published_time\" content=\"2024-05-02T08:00:00+02:00\">\n<script>var x = '<p>no</p>';</script>\n<style>p { color: red }</style>\n</head>\n<body>\n<nav><ul><li>Accueil</li></ul></nav>\n<article>\n<h1>Le titre &amp; la suite</h1>\n<p>Premier <b>paragraphe</b> avec l&rsquo;apostrophe.</p>\n<!-- un commentaire -->\n<p>Deuxième\nparagraphe sur deux lignes.</p>\n<div class=\"share-buttons\">Partager</div>\n</article>\n<footer>© Site</footer>\n</body>\n</html>\n";
        let page = extract(src);
        assert_eq!(page.title.as_deref(), Some("Le titre & la suite"));
        assert_eq!(page.date.as_deref(), Some("2024-05-02"));
        assert_eq!(page.lang.as_deref(), Some("fr"));
        assert_eq!(
            paragraphs(&page),
            vec![
                "Le titre & la suite",
                "Premier paragraphe avec l’apostrophe.",
                "Deuxième\nparagraphe sur deux lignes."
            ]
        );
        // Lines follow the source.
        let line_of = |needle: &str| page.text[..page.text.find(needle).unwrap()].matches('\n').count() + 1;
        let src_line = |needle: &str| src[..src.find(needle).unwrap()].matches('\n').count() + 1;
        assert_eq!(line_of("Premier"), src_line("Premier"));
        assert_eq!(line_of("paragraphe sur deux"), src_line("paragraphe sur deux"));
    }

    #[test]
    fn minified_page_and_breaks() {
        let page = extract("<html><body><p>Un.</p><p>Deux<br>Trois</p><ul><li>A</li><li>B</li></ul></body></html>");
        assert_eq!(paragraphs(&page), vec!["Un.", "Deux", "Trois", "A", "B"]);
        assert_eq!(page.list_items, vec![false, false, false, true, true]);
    }

    #[test]
    fn missing_head_end_and_unclosed_tags() {
        let page = extract("<html><head><title>T</title><body><p>Texte <a href='x>y'>lien</a> fin<p>Autre");
        assert_eq!(paragraphs(&page), vec!["Texte lien fin", "Autre"]);
        assert_eq!(page.title.as_deref(), Some("T"));
        let page = extract("<p>a < b et c <3 d</p><p>x</");
        assert_eq!(paragraphs(&page), vec!["a < b et c <3 d", "x</"]);
    }

    #[test]
    fn falls_back_when_content_is_in_a_dropped_element() {
        let body = "Une phrase de contenu réel assez longue pour compter. ".repeat(8);
        let page = extract(&format!("<div class=\"sidebar\"><p>{body}</p></div>"));
        assert_eq!(page.blocks.len(), 1);
    }

    #[test]
    fn charset_sniffing() {
        let enc = sniff_charset(b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">");
        assert_eq!(enc, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(sniff_charset(b"<p>rien</p>"), None);
    }
}

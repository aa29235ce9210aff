//! HTML to readable text, by a small forgiving scanner (no DOM, no new dependency).
//!
//! Scripts, styles, navigation, headers, footers, asides, forms and comments are dropped; block
//! elements become paragraphs; entities are decoded. The output keeps source line numbers
//! wherever the source has room: paragraph breaks reuse the page's own newlines, so a citation's
//! line in `Article::text` is the line of the `.html` file (minified pages drift, they have one
//! line anyway). Metadata (title, date, language, canonical URL) is collected on the way.

use std::ops::Range;

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
    let mut page = Extractor::new(src, Mode::Strict).run();
    for mode in [Mode::NoClass, Mode::Minimal] {
        let have = body_chars(&page);
        if have >= 200 {
            break;
        }
        let alt = Extractor::new(src, mode).run();
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

struct Extractor<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    mode: Mode,
    out: Out,
    /// Inside a dropped element: its name and nesting depth.
    skip: Option<(String, u32)>,
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

impl<'a> Extractor<'a> {
    fn new(src: &'a str, mode: Mode) -> Self {
        Extractor {
            src,
            pos: 0,
            line: 1,
            mode,
            out: Out {
                line: 1,
                ..Out::default()
            },
            skip: None,
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

    fn run(mut self) -> Page {
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b'<' => self.markup(),
                b'&' => {
                    let (s, n) = decode_entity(&self.src[self.pos..]);
                    // `&#10;` and friends are whitespace, not line breaks of the source.
                    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_whitespace()) {
                        self.space();
                    } else {
                        self.text(&s);
                    }
                    self.pos += n;
                }
                b'\n' => {
                    self.line += 1;
                    self.space();
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0c => {
                    self.space();
                    self.pos += 1;
                }
                _ => {
                    let run = bytes[self.pos..]
                        .iter()
                        .position(|b| matches!(b, b'<' | b'&' | b'\n' | b' ' | b'\t' | b'\r' | 0x0c))
                        .map_or(bytes.len(), |i| self.pos + i);
                    let s = &self.src[self.pos..run];
                    self.text(s);
                    self.pos = run;
                }
            }
        }
        self.out.brk();
        self.finish()
    }

    fn finish(self) -> Page {
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

    fn text(&mut self, s: &str) {
        if let Some(buf) = &mut self.h1_buf {
            buf.push_str(s);
        }
        if self.skip.is_none() {
            self.out.push(s, self.line);
        }
    }

    fn space(&mut self) {
        if let Some(buf) = &mut self.h1_buf {
            buf.push(' ');
        }
        self.out.space();
    }

    /// Moves to `end`, counting the newlines passed.
    fn advance_to(&mut self, end: usize) {
        let end = end.min(self.src.len());
        let newlines = self.src.as_bytes()[self.pos..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += u32::try_from(newlines).unwrap_or(u32::MAX);
        self.pos = end;
    }

    fn find_from(&self, from: usize, needle: &str) -> Option<usize> {
        self.src.get(from..)?.find(needle).map(|i| from + i)
    }

    fn markup(&mut self) {
        let rest = &self.src[self.pos..];
        let len = self.src.len();
        if rest.starts_with("<!--") {
            let end = self.find_from(self.pos + 4, "-->").map_or(len, |i| i + 3);
            self.advance_to(end);
        } else if rest.starts_with("<![CDATA[") {
            let end = self.find_from(self.pos + 9, "]]>").map_or(len, |i| i + 3);
            self.advance_to(end);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            let end = self.find_from(self.pos + 2, ">").map_or(len, |i| i + 1);
            self.advance_to(end);
        } else if let Some(after) = rest.strip_prefix("</") {
            let name = tag_name(after);
            if name.is_empty() {
                self.literal_lt();
                return;
            }
            let end = self.find_from(self.pos + 2, ">").map_or(len, |i| i + 1);
            self.advance_to(end);
            self.end_tag(&name);
        } else if rest.as_bytes().get(1).is_some_and(u8::is_ascii_alphabetic) {
            self.start_tag();
        } else {
            self.literal_lt();
        }
    }

    fn literal_lt(&mut self) {
        self.text("<");
        self.pos += 1;
    }

    fn start_tag(&mut self) {
        let bytes = self.src.as_bytes();
        let name = tag_name(&self.src[self.pos + 1..]);
        let mut i = self.pos + 1 + name.len();
        let mut attrs: Vec<(String, String)> = Vec::new();
        let mut self_closing = false;
        loop {
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            match bytes.get(i) {
                None => break,
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'/') => {
                    i += 1;
                    if bytes.get(i) == Some(&b'>') {
                        self_closing = true;
                        i += 1;
                        break;
                    }
                    continue;
                }
                Some(_) => {}
            }
            let start = i;
            while bytes
                .get(i)
                .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
            {
                i += 1;
            }
            let key = self.src[start..i].to_ascii_lowercase();
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            let mut value = "";
            if bytes.get(i) == Some(&b'=') {
                i += 1;
                while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let end = bytes[i + 1..]
                            .iter()
                            .position(|&b| b == q)
                            .map_or(bytes.len(), |p| i + 1 + p);
                        value = &self.src[i + 1..end];
                        i = (end + 1).min(bytes.len());
                    }
                    _ => {
                        let start = i;
                        while bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>') {
                            i += 1;
                        }
                        value = &self.src[start..i];
                    }
                }
            }
            if !key.is_empty() && attrs.len() < 64 {
                attrs.push((key, decode_entities(value)));
            }
        }
        self.advance_to(i);
        self.handle_start(&name, &attrs, self_closing);
    }

    fn handle_start(&mut self, name: &str, attrs: &[(String, String)], self_closing: bool) {
        let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        match name {
            "meta" => self.meta(attrs),
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
        if RAW.contains(&name) && !self_closing {
            self.raw(name);
            return;
        }
        if name == "h1" && self.h1.is_none() && self.h1_buf.is_none() {
            self.h1_buf = Some(String::new());
        }
        let void = self_closing || VOID.contains(&name);
        if let Some((tag, depth)) = &mut self.skip {
            if tag == "head" && name == "body" {
                // `</head>` is optional: the body ends the head.
                self.skip = None;
            } else {
                if tag == name && !void {
                    *depth += 1;
                }
                return;
            }
        }
        if !void && self.should_drop(name, attrs) {
            self.out.brk();
            self.skip = Some((name.to_string(), 1));
            return;
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
    }

    fn end_tag(&mut self, name: &str) {
        if name == "h1"
            && let Some(buf) = self.h1_buf.take()
        {
            let t = clean_title(&buf);
            if !t.is_empty() {
                self.h1 = Some(t);
            }
        }
        if let Some((tag, depth)) = &mut self.skip {
            if tag == name {
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

    /// Skips the content of a raw-text element, keeping the first `<title>`.
    fn raw(&mut self, name: &str) {
        let close = format!("</{name}");
        let end = find_ascii_ci(self.src, self.pos, &close).unwrap_or(self.src.len());
        if name == "title" && self.doc_title.is_none() {
            let t = clean_title(&decode_entities(&self.src[self.pos..end]));
            if !t.is_empty() {
                self.doc_title = Some(t);
            }
        }
        self.advance_to(end);
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

fn tag_name(s: &str) -> String {
    let len = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_'))
        .count();
    s[..len].to_ascii_lowercase()
}

fn furniture_class(v: &str) -> bool {
    let words = || v.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    !words().any(|w| CONTENT.contains(&w)) && words().any(|w| FURNITURE.contains(&w))
}

/// Finds an ASCII `needle` in `hay[from..]`, ignoring ASCII case.
fn find_ascii_ci(hay: &str, from: usize, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if from > h.len() || n.is_empty() {
        return None;
    }
    h[from..]
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
        .map(|i| from + i)
}

/// Decodes every entity in `s`.
pub(super) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let (dec, n) = decode_entity(&rest[i..]);
        out.push_str(&dec);
        rest = &rest[i + n..];
    }
    out.push_str(rest);
    out
}

/// Decodes the entity at the start of `s` (which starts with `&`): text and bytes consumed.
/// Unknown entities stay literal.
fn decode_entity(s: &str) -> (String, usize) {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let hex = matches!(b.get(2), Some(b'x' | b'X'));
        let start = if hex { 3 } else { 2 };
        let digits = b[start.min(b.len())..]
            .iter()
            .take_while(|c| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() })
            .count();
        if digits == 0 || digits > 8 {
            return ("&".into(), 1);
        }
        let mut len = start + digits;
        if b.get(len) == Some(&b';') {
            len += 1;
        }
        let n = u32::from_str_radix(&s[start..start + digits], if hex { 16 } else { 10 }).unwrap_or(0xfffd);
        let c = match n {
            // Legacy pages write Windows-1252 code points (&#146; for ’).
            0x80..=0x9f => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(&[n as u8])
                .0
                .chars()
                .next()
                .unwrap_or('\u{fffd}'),
            0 => '\u{fffd}',
            _ => char::from_u32(n).unwrap_or('\u{fffd}'),
        };
        return (c.to_string(), len);
    }
    let name_len = b[1..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    if name_len == 0 || name_len > 32 {
        return ("&".into(), 1);
    }
    let name = &s[1..1 + name_len];
    if b.get(1 + name_len) == Some(&b';') {
        if let Some(v) = named_entity(name) {
            return (v.into(), name_len + 2);
        }
    } else if matches!(name, "amp" | "lt" | "gt" | "quot" | "nbsp") {
        return (named_entity(name).unwrap_or("&").into(), name_len + 1);
    }
    ("&".into(), 1)
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "shy" | "zwnj" | "zwj" | "lrm" | "rlm" => "",
        "thinsp" => "\u{2009}",
        "ensp" => "\u{2002}",
        "emsp" => "\u{2003}",
        "laquo" => "«",
        "raquo" => "»",
        "lsaquo" => "‹",
        "rsaquo" => "›",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "hellip" => "…",
        "ndash" => "–",
        "mdash" => "—",
        "minus" => "−",
        "middot" => "·",
        "bull" => "•",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "sup1" => "¹",
        "sup2" => "²",
        "sup3" => "³",
        "para" => "¶",
        "sect" => "§",
        "micro" => "µ",
        "ordf" => "ª",
        "ordm" => "º",
        "iexcl" => "¡",
        "iquest" => "¿",
        "dagger" => "†",
        "permil" => "‰",
        "prime" => "′",
        "larr" => "←",
        "rarr" => "→",
        "uarr" => "↑",
        "darr" => "↓",
        "agrave" => "à",
        "aacute" => "á",
        "acirc" => "â",
        "atilde" => "ã",
        "auml" => "ä",
        "aring" => "å",
        "aelig" => "æ",
        "ccedil" => "ç",
        "egrave" => "è",
        "eacute" => "é",
        "ecirc" => "ê",
        "euml" => "ë",
        "igrave" => "ì",
        "iacute" => "í",
        "icirc" => "î",
        "iuml" => "ï",
        "eth" => "ð",
        "ntilde" => "ñ",
        "ograve" => "ò",
        "oacute" => "ó",
        "ocirc" => "ô",
        "otilde" => "õ",
        "ouml" => "ö",
        "oslash" => "ø",
        "oelig" => "œ",
        "ugrave" => "ù",
        "uacute" => "ú",
        "ucirc" => "û",
        "uuml" => "ü",
        "yacute" => "ý",
        "yuml" => "ÿ",
        "szlig" => "ß",
        "thorn" => "þ",
        "Agrave" => "À",
        "Aacute" => "Á",
        "Acirc" => "Â",
        "Atilde" => "Ã",
        "Auml" => "Ä",
        "Aring" => "Å",
        "AElig" => "Æ",
        "Ccedil" => "Ç",
        "Egrave" => "È",
        "Eacute" => "É",
        "Ecirc" => "Ê",
        "Euml" => "Ë",
        "Igrave" => "Ì",
        "Iacute" => "Í",
        "Icirc" => "Î",
        "Iuml" => "Ï",
        "ETH" => "Ð",
        "Ntilde" => "Ñ",
        "Ograve" => "Ò",
        "Oacute" => "Ó",
        "Ocirc" => "Ô",
        "Otilde" => "Õ",
        "Ouml" => "Ö",
        "Oslash" => "Ø",
        "OElig" => "Œ",
        "Ugrave" => "Ù",
        "Uacute" => "Ú",
        "Ucirc" => "Û",
        "Uuml" => "Ü",
        "Yacute" => "Ý",
        "Yuml" => "Ÿ",
        "THORN" => "Þ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paragraphs(p: &Page) -> Vec<&str> {
        p.blocks.iter().map(|r| &p.text[r.clone()]).collect()
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("caf&eacute; &amp; th&#233; &#xE9;t&eacute;&nbsp;!&hellip; &#146; &bogus; & x"),
            "café & thé été\u{a0}!… ’ &bogus; & x"
        );
        assert_eq!(decode_entities("&#0; &#99999999; &#x;"), "\u{fffd} \u{fffd} &#x;");
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

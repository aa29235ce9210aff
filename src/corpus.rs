//! Reading articles from disk: discovery, decoding, format parsing and body detection.
//!
//! This module owns everything between a path the user gave and an [`Article`] whose `blocks`
//! mark the paragraphs worth indexing. It never fails on bad input: per-file trouble is returned
//! as [`FileReport`]s so that one broken file never stops an ingest. Layout analysis (title,
//! date line, boilerplate) and Markdown parsing (on pulldown-cmark) live in `corpus/layout.rs`,
//! HTML extraction in `corpus/html.rs` (on html5ever's tokenizer). JSONL records are read by serde into `Record`: a known field of
//! the wrong type is reported and ignored, never fatal to its line.

mod boilerplate;
mod dates;
mod html;
mod layout;

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// File extensions (lowercase, without the dot) that sourcier reads.
pub const EXTENSIONS: &[&str] = &["txt", "md", "markdown", "html", "htm", "jsonl"];

/// How an article was stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text (`.txt`).
    #[default]
    Txt,
    /// Markdown (`.md`, `.markdown`).
    Markdown,
    /// HTML (`.html`, `.htm`).
    Html,
    /// One JSON object per line (`.jsonl`).
    Jsonl,
}

impl Format {
    /// The format a file's extension announces, or `None` when sourcier does not read it.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "txt" => Some(Format::Txt),
            "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            "jsonl" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// Short lowercase name, as stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One article, decoded, with the byte ranges of its body paragraphs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Article {
    /// Path relative to the ingested root with `/` separators; JSONL records get `#<line>` or `#<id>`.
    pub id: String,
    /// The file the article came from.
    pub source_path: PathBuf,
    pub title: Option<String>,
    /// ISO-like date as found (`2025-04` or `2025-04-12`).
    pub date: Option<String>,
    /// ISO 639-1 code (`fr`, `en`, ...).
    pub lang: Option<String>,
    pub url: Option<String>,
    /// Decoded text; its `\n` count matches the source lines (from `line_base`) except past
    /// `last_line`. Plain text and JSONL keep the source as is; Markdown and HTML hold their
    /// visible text, each piece on the line it came from.
    pub text: String,
    /// Sorted, non-overlapping byte ranges of `text` holding body content.
    pub blocks: Vec<Range<usize>>,
    /// 1-based source line of the first line of `text`.
    pub line_base: u32,
    /// Last source line the article comes from (0: not known). Chunk lines never go past it:
    /// a JSONL record's text can hold `\n`s on its one line, and the paragraphs of a
    /// minified page get line breaks its file does not have.
    #[serde(default)]
    pub last_line: u32,
    /// sha256 hex of the raw file bytes (JSONL: of the record's line).
    pub hash: String,
    pub format: Format,
}

impl Article {
    /// The body paragraphs as string slices.
    pub fn block_texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.blocks.iter().filter_map(|r| self.text.get(r.clone()))
    }
}

/// Something worth telling the user about one file (or one JSONL line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file was not valid UTF-8 and was decoded with `encoding`; the article is still produced.
    NotUtf8Decoded { encoding: &'static str },
    /// The file looks binary; skipped.
    Binary,
    /// The file is empty or holds only whitespace; skipped.
    Empty,
    /// The file could not be read; skipped.
    Unreadable(String),
    /// A folder below an ingested one could not be listed (no permission, say); the files in
    /// it are skipped, and `--prune` leaves their stored articles alone.
    UnreadableFolder(String),
    /// One JSONL line is not a usable record; the other lines are still read.
    MalformedJsonl { line: u32, detail: String },
    /// A known JSONL field holds a value of the wrong type (`"title": 12`); the field is
    /// ignored and the record still indexed.
    JsonlField {
        line: u32,
        field: &'static str,
        detail: String,
    },
    /// A JSONL `id` repeats an earlier one; the record is kept under its line number instead.
    DuplicateId { line: u32, id: String },
    /// Another file already produced an article with this id (two roots holding the same
    /// relative path); this one is skipped. Reported by the ingester, which sees all files.
    DuplicateArticle { id: String },
    /// The index already holds an article with this id from another file that still exists
    /// (two folders ingested one after the other, each with this relative path); this one is
    /// skipped instead of replacing it. Reported by the ingester, which sees the store.
    IdTaken { id: String, stored: String },
    /// Nothing but title, date and boilerplate; skipped. `line` is set for JSONL records.
    NoBody { line: Option<u32> },
    /// The extension is not one sourcier reads; skipped.
    Unsupported,
    /// The file or folder name is not valid UTF-8; skipped (rename it to ingest it).
    NonUtf8Name,
    /// A symbolic link whose target lies outside the folder being ingested; not followed
    /// unless asked (`follow_links`), so a link to `/etc/passwd` is never indexed by accident.
    LinkOutsideRoot { target: PathBuf },
}

impl Problem {
    /// True when the file (or record) produced no article.
    pub fn is_skip(&self) -> bool {
        !matches!(
            self,
            Problem::NotUtf8Decoded { .. } | Problem::DuplicateId { .. } | Problem::JsonlField { .. }
        )
    }

    /// The source line the problem concerns, if any.
    pub fn line(&self) -> Option<u32> {
        match self {
            Problem::MalformedJsonl { line, .. }
            | Problem::DuplicateId { line, .. }
            | Problem::JsonlField { line, .. } => Some(*line),
            Problem::NoBody { line } => *line,
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8Decoded { encoding } => write!(
                f,
                "not valid UTF-8, decoded as {encoding}; check accented characters or re-save the file as UTF-8"
            ),
            Problem::Binary => f.write_str("looks like a binary file, skipped"),
            Problem::Empty => f.write_str("empty file, skipped"),
            Problem::Unreadable(e) => write!(f, "could not be read ({e}), skipped"),
            Problem::UnreadableFolder(e) => write!(f, "folder could not be read ({e}), the files in it are skipped"),
            Problem::MalformedJsonl { detail, .. } => {
                write!(f, "malformed JSONL record ({detail}), line skipped")
            }
            Problem::DuplicateId { id, .. } => {
                write!(f, "duplicate id `{id}`, record kept under its line number")
            }
            Problem::JsonlField { field, detail, .. } => {
                write!(f, "field `{field}` ignored ({detail}); the record is still read")
            }
            Problem::DuplicateArticle { id } => write!(
                f,
                "article id `{id}` was already read from another file, skipped; give folders whose files have distinct relative paths"
            ),
            Problem::IdTaken { id, stored } => write!(
                f,
                "article id `{id}` is already taken by {stored}, which still exists; skipped so as not to replace it (ingest the folder above both, or rename one)"
            ),
            Problem::NoBody { .. } => {
                f.write_str("no article text left after removing title, date and boilerplate, skipped")
            }
            Problem::NonUtf8Name => f.write_str("the name is not valid UTF-8, skipped; rename it to ingest it"),
            Problem::LinkOutsideRoot { target } => write!(
                f,
                "symbolic link to {}, outside the ingested folder, not followed (ask to follow links to include it)",
                target.display()
            ),
            Problem::Unsupported => write!(
                f,
                "unsupported file type (sourcier reads .{}), skipped",
                EXTENSIONS.join(", .")
            ),
        }
    }
}

/// A [`Problem`] with the file it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    pub problem: Problem,
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem.line() {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.problem),
            None => write!(f, "{}: {}", self.path.display(), self.problem),
        }
    }
}

/// Expands files and folders into `(root, file)` pairs of supported files.
///
/// Folders are walked recursively in name order, skipping hidden entries; a file given directly
/// has its parent as root. Each input keeps its place in the order; duplicates are dropped.
/// The error for a file given by name that sourcier cannot read.
pub fn unsupported_file(path: &Path) -> Error {
    Error::UnsupportedFile {
        path: path.to_path_buf(),
        supported: EXTENSIONS
            .iter()
            .map(|e| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

pub fn discover(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>> {
    let found = discover_with(paths, false)?;
    for r in &found.skipped {
        tracing::warn!("{r}");
    }
    Ok(found.files)
}

/// What a walk found: the files to read, each with the root it was found under, and the
/// entries it did not follow.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<(PathBuf, PathBuf)>,
    pub skipped: Vec<FileReport>,
}

/// [`discover`], saying which links were not followed; with `follow_links`, links that lead
/// out of a folder are followed too.
pub fn discover_with(paths: &[PathBuf], follow_links: bool) -> Result<Discovery> {
    let mut skipped = Vec::new();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound { path: path.clone() });
            }
            Err(e) => return Err(Error::io("reading", path)(e)),
        };
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, follow_links, &mut files, &mut skipped)?;
            files.sort();
            for f in files {
                if seen.insert(dedup_key(&f)) {
                    out.push((path.clone(), f));
                }
            }
        } else if Format::from_path(path).is_some() {
            let root = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if seen.insert(dedup_key(path)) {
                out.push((root, path.clone()));
            }
        } else {
            // Named on purpose, so skipping it quietly would hide a mistake.
            return Err(unsupported_file(path));
        }
    }
    Ok(Discovery { files: out, skipped })
}

fn dedup_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The supported files below `dir`, skipping hidden entries. Symlinks are followed while
/// they stay inside `dir` (walkdir detects loops); links that lead out of it are followed only
/// with `follow_links`, and reported in `skipped` otherwise. A supported file that cannot even
/// be inspected (a dangling link, no permission) is kept: `read_file` then reports it to the
/// user as unreadable. A folder that cannot be listed is reported in `skipped`.
fn walk(dir: &Path, follow_links: bool, files: &mut Vec<PathBuf>, skipped: &mut Vec<FileReport>) -> Result<()> {
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    // `skipped` is lent to the entry filter for the whole walk: collect these apart.
    let mut unreadable = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() > 0 && is_hidden(e.path()) {
                return false;
            }
            // A name that is not UTF-8 cannot be stored exactly, so `--prune` would never
            // find the file again: refuse it with the reason instead of churning.
            if e.depth() > 0 && e.file_name().to_str().is_none() {
                skipped.push(FileReport {
                    path: e.path().to_path_buf(),
                    problem: Problem::NonUtf8Name,
                });
                return false;
            }
            if follow_links || e.depth() == 0 || !e.path_is_symlink() {
                return true;
            }
            match std::fs::canonicalize(e.path()) {
                Ok(target) if !target.starts_with(&root) => {
                    skipped.push(FileReport {
                        path: e.path().to_path_buf(),
                        problem: Problem::LinkOutsideRoot { target },
                    });
                    false
                }
                _ => true,
            }
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() && Format::from_path(e.path()).is_some() => {
                files.push(e.into_path());
            }
            Ok(_) => {}
            Err(e) if e.depth() == 0 => {
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("cannot walk"));
                return Err(Error::io("reading", dir)(source));
            }
            // A symlinked folder that leads back up: its files are walked once already.
            Err(e) if e.loop_ancestor().is_some() => {}
            Err(e) => match e.path() {
                Some(p) if Format::from_path(p).is_some() => files.push(p.to_path_buf()),
                Some(p) if p.is_dir() => {
                    let cause = e.io_error().map_or_else(|| e.to_string(), |io| io.to_string());
                    unreadable.push(FileReport {
                        path: p.to_path_buf(),
                        problem: Problem::UnreadableFolder(cause),
                    });
                }
                _ => tracing::warn!("skipping: {e}"),
            },
        }
    }
    skipped.extend(unreadable);
    Ok(())
}

/// The article id of `file` under `root`: relative path with `/` separators.
pub fn relative_id(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

/// Reads one file into articles. Never panics; trouble comes back as reports.
pub fn read_file(root: &Path, file: &Path) -> (Vec<Article>, Vec<FileReport>) {
    let report = |problem| FileReport {
        path: file.to_path_buf(),
        problem,
    };
    let Some(format) = Format::from_path(file) else {
        return (Vec::new(), vec![report(Problem::Unsupported)]);
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return (Vec::new(), vec![report(Problem::Unreadable(e.to_string()))]),
    };
    parse_bytes(&relative_id(root, file), file, format, &bytes)
}

/// Parses raw file bytes as `format`. `id` is the article id (JSONL appends `#...`).
pub fn parse_bytes(id: &str, source_path: &Path, format: Format, bytes: &[u8]) -> (Vec<Article>, Vec<FileReport>) {
    let mut reports = Vec::new();
    let mut report = |problem| {
        reports.push(FileReport {
            path: source_path.to_path_buf(),
            problem,
        })
    };
    let text = match decode(bytes, format) {
        Ok((text, None)) => text,
        Ok((text, Some(encoding))) => {
            report(Problem::NotUtf8Decoded { encoding });
            text
        }
        Err(problem) => {
            report(problem);
            return (Vec::new(), reports);
        }
    };
    let mut articles = Vec::new();
    if format == Format::Jsonl {
        parse_jsonl(id, source_path, &text, &mut articles, &mut report);
    } else {
        let base = Article {
            id: id.to_string(),
            source_path: source_path.to_path_buf(),
            line_base: 1,
            last_line: u32::try_from(text.matches('\n').count() + 1).unwrap_or(u32::MAX),
            hash: sha256_hex(bytes),
            format,
            ..Article::default()
        };
        let article = match format {
            Format::Html => {
                let page = html::extract(&text);
                let headlines: Vec<&str> = page.headlines.iter().map(String::as_str).collect();
                let lay = layout::analyze_units(&page.text, &page.blocks, &page.list_items, &headlines);
                Article {
                    title: page.title.or(lay.title),
                    date: lay.date.or(page.date),
                    lang: detect_lang(&page.text, &lay.blocks).or(page.lang),
                    url: page.url,
                    blocks: lay.blocks,
                    text: page.text,
                    ..base
                }
            }
            _ => {
                let (text, lay) = if format == Format::Markdown {
                    layout::analyze_markdown(&text)
                } else {
                    let lay = layout::analyze_lines(&text, None);
                    (text, lay)
                };
                Article {
                    title: lay.title,
                    date: lay.date,
                    lang: detect_lang(&text, &lay.blocks).or(lay.lang),
                    url: lay.url,
                    blocks: lay.blocks,
                    text,
                    ..base
                }
            }
        };
        if article.blocks.is_empty() {
            report(Problem::NoBody { line: None });
        } else {
            articles.push(article);
        }
    }
    (articles, reports)
}

/// A JSONL record as written: only the known fields are read (serde skips the others), each
/// kept as it came so that a value of the wrong type is reported instead of failing the line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    id: Loose,
    text: Loose,
    title: Loose,
    date: Loose,
    lang: Loose,
    url: Loose,
}

/// One field's value: a string, a number, or something else (named for the warning).
#[derive(Debug, Default)]
enum Loose {
    #[default]
    Absent,
    /// `null`: the field is there but says nothing, as if absent.
    Null,
    Str(String),
    Num(serde_json::Number),
    Other(&'static str),
}

impl Loose {
    /// Trimmed non-empty text, or `None`; a value of another type is reported and ignored.
    fn text(&self, field: &'static str, warn: &mut impl FnMut(&'static str, String)) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            Loose::Absent | Loose::Null => None,
            other => {
                warn(field, format!("expected a string, found {}", other.kind()));
                None
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Loose::Absent | Loose::Null => "null",
            Loose::Str(_) => "a string",
            Loose::Num(_) => "a number",
            Loose::Other(kind) => kind,
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Loose, E> {
                Ok(Loose::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Loose, E> {
                Ok(Loose::Str(v))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Loose, E> {
                Ok(Loose::Num(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Loose, E> {
                Ok(Loose::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Loose, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Loose::Other("a number"), Loose::Num))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Loose, E> {
                Ok(Loose::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> std::result::Result<Loose, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Loose, E> {
                Ok(Loose::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Loose, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other("an array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Loose, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Loose::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_jsonl(
    id: &str,
    source_path: &Path,
    text: &str,
    articles: &mut Vec<Article>,
    report: &mut impl FnMut(Problem),
) {
    let mut ids = HashSet::new();
    for (i, raw_line) in text.split('\n').enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        let malformed = |detail: String| Problem::MalformedJsonl { line: line_no, detail };
        // A derived struct also accepts a JSON array (fields by position): only objects are records.
        if !line.starts_with('{') {
            let detail = match serde_json::from_str::<serde::de::IgnoredAny>(line) {
                Ok(_) => "not a JSON object".to_string(),
                Err(e) => format!("invalid JSON: {e}"),
            };
            report(malformed(detail));
            continue;
        }
        let record: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                report(malformed(format!("invalid JSON: {e}")));
                continue;
            }
        };
        let body = match &record.text {
            Loose::Str(s) if !s.trim().is_empty() => s.replace("\r\n", "\n"),
            Loose::Str(_) => {
                report(malformed("empty `text` field".into()));
                continue;
            }
            Loose::Absent => {
                report(malformed("missing `text` field".into()));
                continue;
            }
            _ => {
                report(malformed("`text` is not a string".into()));
                continue;
            }
        };
        // Fields of the wrong type are dropped with a warning; the record is still indexed.
        let mut warnings = Vec::new();
        let mut warn = |field: &'static str, detail: String| {
            warnings.push(Problem::JsonlField {
                line: line_no,
                field,
                detail,
            })
        };
        let record_id = match &record.id {
            Loose::Num(n) => Some(n.to_string()),
            other => other.text("id", &mut warn).map(str::to_string),
        };
        let date = match &record.date {
            Loose::Num(n) => {
                let year = n.as_u64().and_then(dates::year);
                if year.is_none() {
                    warn("date", format!("the number {n} is not a year"));
                }
                year
            }
            other => other.text("date", &mut warn).and_then(dates::normalize),
        };
        let title = record.title.text("title", &mut warn).map(layout::clean_title);
        let lang = record.lang.text("lang", &mut warn).and_then(crate::lang::normalize);
        let url = record.url.text("url", &mut warn).map(str::to_string);
        for w in warnings {
            report(w);
        }
        let suffix = match record_id {
            Some(rid) if !ids.contains(&rid) => rid,
            Some(rid) => {
                report(Problem::DuplicateId { line: line_no, id: rid });
                line_no.to_string()
            }
            None => line_no.to_string(),
        };
        // An explicit id may equal another record's line number: keep ids unique anyway.
        let suffix = if ids.contains(&suffix) {
            format!("line{line_no}")
        } else {
            suffix
        };
        ids.insert(suffix.clone());
        let lay = layout::analyze_lines(&body, title.as_deref());
        if lay.blocks.is_empty() {
            report(Problem::NoBody { line: Some(line_no) });
            continue;
        }
        articles.push(Article {
            id: format!("{id}#{suffix}"),
            source_path: source_path.to_path_buf(),
            title: title.or(lay.title),
            date: date.or(lay.date),
            lang: lang.or_else(|| detect_lang(&body, &lay.blocks)),
            url,
            hash: sha256_hex(raw_line.trim_end_matches('\r').as_bytes()),
            blocks: lay.blocks,
            text: body,
            line_base: line_no,
            last_line: line_no,
            format: Format::Jsonl,
        });
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Detects the body language from the blocks (first 10 kB is plenty for whatlang).
fn detect_lang(text: &str, blocks: &[Range<usize>]) -> Option<String> {
    let mut sample = String::new();
    for r in blocks {
        if let Some(s) = text.get(r.clone()) {
            sample.push_str(s);
            sample.push('\n');
        }
        if sample.len() > 10_000 {
            break;
        }
    }
    crate::lang::detect(&sample)
}

/// Decodes raw bytes: UTF-8 (BOM stripped) as is, UTF-16 by BOM, otherwise a legacy encoding
/// with a warning. Binary and empty inputs are refused.
fn decode(bytes: &[u8], format: Format) -> std::result::Result<(String, Option<&'static str>), Problem> {
    let (mut text, warning) = if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        // UTF-16 is full of NUL bytes: judge binary-ness after decoding it.
        let raw = &bytes[bom..];
        if enc == encoding_rs::UTF_8 && looks_binary(raw) {
            return Err(Problem::Binary);
        }
        let (s, _) = enc.decode_without_bom_handling(raw);
        if enc != encoding_rs::UTF_8 && looks_binary(s.as_bytes()) {
            return Err(Problem::Binary);
        }
        if enc == encoding_rs::UTF_8 && std::str::from_utf8(raw).is_err() {
            // A UTF-8 BOM followed by broken UTF-8: keep what decodes.
            (s.into_owned(), Some("UTF-8 (invalid bytes replaced)"))
        } else {
            (s.into_owned(), None)
        }
    } else {
        if looks_binary(bytes) {
            return Err(Problem::Binary);
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_string(), None),
            Err(_) => decode_legacy(bytes, format),
        }
    };
    if text.contains('\r') {
        text = text.replace("\r\n", "\n");
    }
    if text.trim().is_empty() {
        return Err(Problem::Empty);
    }
    Ok((text, warning))
}

fn decode_legacy(bytes: &[u8], format: Format) -> (String, Option<&'static str>) {
    // Mostly-valid UTF-8 with a few stray bytes: replacing them beats mojibake everywhere.
    let (valid_multibyte, invalid) = utf8_stats(bytes);
    if valid_multibyte > 0 && invalid * 4 <= valid_multibyte {
        return (
            String::from_utf8_lossy(bytes).into_owned(),
            Some("UTF-8 (invalid bytes replaced)"),
        );
    }
    let declared = if format == Format::Html {
        html::sniff_charset(bytes).filter(|e| *e != encoding_rs::UTF_8)
    } else {
        None
    };
    let enc = declared.unwrap_or(encoding_rs::WINDOWS_1252);
    let (s, _, _) = enc.decode(bytes);
    (s.into_owned(), Some(enc.name()))
}

/// Counts valid multi-byte UTF-8 sequences and invalid positions.
fn utf8_stats(mut bytes: &[u8]) -> (usize, usize) {
    let (mut multi, mut invalid) = (0, 0);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                multi += s.chars().filter(|c| !c.is_ascii()).count();
                return (multi, invalid);
            }
            Err(e) => {
                let good = e.valid_up_to();
                if let Ok(s) = std::str::from_utf8(&bytes[..good]) {
                    multi += s.chars().filter(|c| !c.is_ascii()).count();
                }
                invalid += 1;
                let skip = good + e.error_len().unwrap_or(bytes.len() - good).max(1);
                bytes = &bytes[skip.min(bytes.len())..];
            }
        }
    }
}

/// NUL bytes or many control characters in the first 8 KiB mean binary.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || b == 0x7f)
        .count();
    !head.is_empty() && control * 10 > head.len()
}

#[cfg(test)]
mod tests;

//! Text rendering of the library's results for a terminal. `--json` prints the same results
//! serialised instead.

use std::borrow::Cow;
use std::path::Path;

use sourcier::answer::Citation;
use sourcier::app::{AskResult, GeneratedResult, IndexStats, SearchResult};
use sourcier::ingest::IngestReport;
use sourcier::models::ModelInfo;
use sourcier::retrieve::Hit;

/// Text from articles made safe for a terminal: control characters (ESC, CR, BS, …) would
/// let an article set the window title, clear the screen or hide text, so they are printed
/// escaped (`\u{1b}`). Newlines and tabs stay. `--json` escapes them on its own.
pub fn safe(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if bad(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A stored (absolute) source path, relative to the working directory when it lies below it.
fn display_path(p: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| Path::new(p).strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.to_string())
}

fn source_line(n: usize, title: Option<&str>, id: &str, date: Option<&str>, path: &str, lines: (u32, u32)) -> String {
    format!(
        "[{n}] {}{} — {}:{}-{}",
        safe(title.unwrap_or(id)),
        date.map(|d| format!(" ({})", safe(d))).unwrap_or_default(),
        safe(&display_path(path)),
        lines.0,
        lines.1
    )
}

pub fn ingest(r: &IngestReport) -> String {
    let mut s = format!(
        "{} files, {} articles: {} added, {} updated, {} unchanged, {} pruned; {} chunks embedded{}{} in {:.1}s ({:.1} chunks/s)\n",
        r.files,
        r.articles,
        r.added,
        r.updated,
        r.unchanged,
        r.pruned,
        r.chunks - r.reused.min(r.chunks),
        if r.reused > 0 {
            format!(", {} reused", r.reused)
        } else {
            String::new()
        },
        if r.sentences > 0 {
            format!(" (and {} answer sentences)", r.sentences)
        } else {
            String::new()
        },
        r.seconds,
        r.chunks_per_second()
    );
    if r.skipped_files + r.warnings > 0 {
        s += &format!(
            "{} skipped, {} warnings (details above on stderr)\n",
            r.skipped_files, r.warnings
        );
    }
    s
}

pub fn search(r: &SearchResult, filtered: bool) -> String {
    if r.hits.is_empty() {
        let hint = if filtered { " (try removing filters)" } else { "" };
        return format!("no results{hint}\n");
    }
    let mut s = String::new();
    for h in &r.hits {
        s += &format!(
            "{:>2}. {:.3}  {}{}\n    {}:{}-{}\n    {}\n",
            h.rank,
            // Cosine similarity reads the same in every mode; RRF scores do not.
            h.similarity.unwrap_or(h.score),
            safe(h.title.as_deref().unwrap_or(&h.article_id)),
            h.date.as_deref().map(|d| format!(" ({})", safe(d))).unwrap_or_default(),
            safe(&display_path(&h.path)),
            h.line_start,
            h.line_end,
            safe(&h.snippet)
        );
    }
    s
}

/// An answer: each sentence with its citation, the fact in bold when `styled`; then each
/// source with the lines of the sentences that cite it.
pub fn ask(r: &AskResult, styled: bool) -> String {
    let a = &r.answer;
    if a.abstained || a.sentences.is_empty() {
        return format!("{}\n", safe(&a.text));
    }
    let mut s = a
        .sentences
        .iter()
        .map(|x| {
            let body = match &x.fact {
                Some(f) if styled => format!(
                    "{}\x1b[1m{}\x1b[0m{}",
                    safe(&x.text[..f.sentence_start]),
                    safe(&f.text),
                    safe(&x.text[f.sentence_end..])
                ),
                _ => safe(&x.text).into_owned(),
            };
            format!("{body} [{}]", x.citation)
        })
        .collect::<Vec<_>>()
        .join(" ");
    s.push_str("\n\n");
    for c in &a.citations {
        let cited = a.sentences.iter().filter(|x| x.citation == c.n);
        let lines = cited.fold(None, |acc: Option<(u32, u32)>, x| {
            Some(acc.map_or((x.line_start, x.line_end), |(s, e)| {
                (s.min(x.line_start), e.max(x.line_end))
            }))
        });
        s += &citation(c, lines.unwrap_or((c.line_start, c.line_end)));
    }
    s
}

fn citation(c: &Citation, lines: (u32, u32)) -> String {
    source_line(
        c.n,
        c.title.as_deref(),
        &c.article_id,
        c.date.as_deref(),
        &c.path,
        lines,
    ) + "\n"
}

/// The sources and warnings printed after a streamed answer.
pub fn generated_sources(r: &GeneratedResult) -> String {
    let mut s = String::from("\n\n");
    for &n in &r.cited {
        let h: &Hit = &r.passages[n - 1];
        s += &source_line(
            n,
            h.title.as_deref(),
            &h.article_id,
            h.date.as_deref(),
            &h.path,
            (h.line_start, h.line_end),
        );
        s.push('\n');
    }
    for c in r.unsupported() {
        s += &format!("warning: no valid citation for: {}\n", safe(&c.text));
    }
    s
}

pub fn stats(r: &IndexStats) -> String {
    let langs: Vec<String> = r
        .stats
        .languages
        .iter()
        .map(|(l, n)| format!("{} {n}", l.as_deref().unwrap_or("unknown")))
        .collect();
    let m = &r.manifest;
    format!(
        "index      {}\narticles   {}\nchunks     {}\nlanguages  {}\nmodel      {} (fingerprint {})\ndims       {}\nchunking   {} tokens, {} sentence overlap\ndisk       {:.1} MB\n",
        r.index,
        r.stats.articles,
        r.stats.chunks,
        langs.join(", "),
        m.embedder,
        m.embedder_fingerprint,
        m.dims,
        m.chunk_tokens,
        m.overlap_sentences,
        r.bytes as f64 / 1e6
    )
}

pub fn models(list: &[ModelInfo]) -> String {
    let mut s = format!(
        "{:<24} {:<10} {:>9}  {:<14} {}\n",
        "NAME", "KIND", "SIZE", "STATE", "PATH"
    );
    for m in list {
        s += &format!(
            "{:<24} {:<10} {:>7.0}MB  {:<14} {}\n",
            m.name,
            m.kind.as_str(),
            m.size as f64 / 1e6,
            m.state.as_str(),
            m.path.display()
        );
    }
    s
}

/// One result as pretty JSON on stdout: the library type, serialised.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

//! Retrieval: a query in, ranked [`Hit`]s out, with the metadata a citation needs.
//!
//! Dense retrieval asks the HNSW graph for neighbours, keeping only chunks that still exist
//! in the store (deleted chunks never surface, even before a rebuild) and that pass the
//! user's filters (language, date range, source glob).

use std::time::Instant;

use serde::Serialize;

use crate::backend::{SearchBackend, Selection};
use crate::date::{DateRange, PartialDate};
use crate::embed::Embedder;
use crate::store::{ArticleRow, ChunkRow};
use crate::{Error, Result};

/// Restrictions on which articles may be returned.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// ISO 639-1 language code, as [`crate::lang::normalize`] returns it.
    pub lang: Option<String>,
    /// Inclusive date bounds. Articles whose date is missing or free text fail any bound.
    pub dates: DateRange,
    /// Glob over the article id and its source path.
    pub source: Option<glob::Pattern>,
}

impl Filters {
    /// Builds filters from user text, validating each: a known language (`fr`, `fr-FR`,
    /// `français`), dates `YYYY[-MM[-DD]]` that exist, `since` not after `until`, a valid glob.
    pub fn parse(
        lang: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        source: Option<&str>,
    ) -> Result<Filters> {
        let lang = lang
            .map(|l| {
                crate::lang::normalize(l).ok_or_else(|| Error::InvalidOption {
                    name: "language",
                    detail: format!(
                        "`{l}` is not a language sourcier knows; use an ISO 639-1 code such as fr or en (known: {})",
                        crate::lang::known_codes().join(" ")
                    ),
                })
            })
            .transpose()?;
        let date = |d: Option<&str>| {
            d.map(|d| {
                PartialDate::parse_iso(d.trim()).map_err(|e| Error::InvalidOption {
                    name: "date",
                    detail: e.to_string(),
                })
            })
            .transpose()
        };
        let dates = DateRange {
            since: date(since)?,
            until: date(until)?,
        };
        if let (Some(s), Some(u)) = (dates.since, dates.until)
            && s.cmp_coarse(u).is_gt()
        {
            return Err(Error::InvalidOption {
                name: "dates",
                detail: format!("the date range is empty: {s} is after {u}"),
            });
        }
        let source = source
            .map(glob::Pattern::new)
            .transpose()
            .map_err(|e| Error::InvalidOption {
                name: "source",
                detail: format!("`{}` is not a valid glob ({e})", source.unwrap_or_default()),
            })?;
        Ok(Filters { lang, dates, source })
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.lang.is_none() && self.dates.is_empty() && self.source.is_none()
    }

    /// Whether an article passes. Undated articles, and articles whose stored date is free
    /// text ("hier"), fail any date bound.
    pub fn accepts(&self, a: &ArticleRow) -> bool {
        if let Some(l) = &self.lang
            && a.lang.as_deref().and_then(crate::lang::normalize).as_deref() != Some(l.as_str())
        {
            return false;
        }
        if !self.dates.accepts_stored(a.date.as_deref()) {
            return false;
        }
        if let Some(g) = &self.source
            && !g.matches(&a.id)
            && !g.matches(&a.source_path)
        {
            return false;
        }
        true
    }
}

/// One retrieved chunk.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// 1-based rank.
    pub rank: usize,
    /// The ranking score of the mode: cosine similarity (dense), BM25 (lexical) or
    /// reciprocal-rank-fusion score (hybrid).
    pub score: f32,
    /// Cosine similarity between the query and the chunk, whatever the mode.
    pub similarity: Option<f32>,
    pub chunk_id: i64,
    pub article_id: String,
    pub title: Option<String>,
    pub date: Option<String>,
    pub lang: Option<String>,
    /// The source file.
    pub path: String,
    pub line_start: u32,
    pub line_end: u32,
    /// Byte span of the chunk in the article text.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// A short extract for display.
    pub snippet: String,
}

/// Which retrievers rank the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Embedding similarity (HNSW).
    Dense,
    /// BM25 over language-aware analysed text (tantivy).
    Lexical,
    /// Reciprocal rank fusion of dense and lexical.
    Hybrid,
}

impl Mode {
    /// All modes, in display order.
    pub const ALL: [Mode; 3] = [Mode::Dense, Mode::Lexical, Mode::Hybrid];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dense => "dense",
            Mode::Lexical => "lexical",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dense" => Ok(Mode::Dense),
            "lexical" | "bm25" => Ok(Mode::Lexical),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(Error::InvalidOption {
                name: "mode",
                detail: format!("unknown mode `{other}`: use dense, lexical or hybrid"),
            }),
        }
    }
}

/// The constant of reciprocal rank fusion (Cormack et al.): 60 damps the head of each list.
pub const RRF_K: f32 = 60.0;
/// How deep each list goes before fusion.
const FUSION_DEPTH: usize = 50;
/// Weight of the lexical list in hybrid fusion (dense counts 1). BM25 is the weaker leg on
/// French, and at equal weight it pulls good dense results down; at 0.3 it mostly breaks
/// near-ties among dense results in favour of exact terms. Chosen on the even half of PIAF with
/// `examples/fusion_sweep.rs` and checked on the odd half, XQuAD-en and the seed queries
/// (`docs/benchmarks.md`).
pub const LEXICAL_WEIGHT: f32 = 0.3;
/// Queries of at most this many words, and not asked as a question (no `?`), are keyword
/// lookups (a name, a number, "Huawei IBM consultants"): there the roles swap, BM25 leads and
/// dense counts [`LEXICAL_WEIGHT`], since an exact term is what the user asked for and a
/// two-word query embeds poorly. Few benchmark questions are like that: 11 of 3,812 in PIAF,
/// 2 of 1,187 in XQuAD.
pub const KEYWORD_QUERY_WORDS: usize = 3;

/// The (dense, lexical) weights hybrid fusion gives a query.
pub fn fusion_weights(query: &str) -> (f32, f32) {
    let words = query
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    if words <= KEYWORD_QUERY_WORDS && !query.contains('?') {
        (LEXICAL_WEIGHT, 1.0)
    } else {
        (1.0, LEXICAL_WEIGHT)
    }
}

/// Share of its weight the lexical list keeps for a passage in another language than the
/// question's. Across languages BM25 only matches names and numbers, which every chunk of the
/// right article shares, so its vote picks a chunk of the right article at random and pulls
/// the answering chunk down (issue 13: hybrid R@1 0.87 against dense 0.97 on English questions
/// about French articles). Measured in `docs/benchmarks.md`.
pub const CROSS_LINGUAL_LEXICAL: f32 = 0.0;

/// Hybrid fusion with the lexical vote lowered for passages in another language than a
/// question's. The rows of every candidate of both lists are read in one batch (one statement,
/// as for the fused top k alone), since a passage's language is only known from its row.
fn hybrid_hits(
    lib: &dyn SearchBackend,
    query: &str,
    dense: &[(i64, f32)],
    lexical: &[(i64, f32)],
    k: usize,
) -> Result<Vec<Hit>> {
    let (wd, wl) = fusion_weights(query);
    let keyword = wl > wd;
    if keyword {
        // A keyword lookup names what it wants; its language says nothing.
        let fused = rrf_weighted(&[(dense, wd), (lexical, wl)], k);
        return hits_from(lib, &fused);
    }
    let all = rrf_weighted(&[(dense, wd), (lexical, wl)], dense.len() + lexical.len());
    let candidates = hits_from(lib, &all)?;
    let qlang = crate::lang::question_lang(query);
    let same: std::collections::HashMap<i64, bool> = candidates
        .iter()
        .map(|h| (h.chunk_id, h.lang.as_deref().is_none_or(|l| l == qlang)))
        .collect();
    let weight = |list: usize, id: i64| match list {
        0 => wd,
        _ if same.get(&id).copied().unwrap_or(true) => wl,
        _ => wl * CROSS_LINGUAL_LEXICAL,
    };
    let fused = fuse(&[dense, lexical], weight, k);
    let mut by_id: std::collections::HashMap<i64, Hit> = candidates.into_iter().map(|h| (h.chunk_id, h)).collect();
    let mut hits = Vec::with_capacity(fused.len());
    for (id, score) in fused {
        if let Some(mut h) = by_id.remove(&id) {
            h.rank = hits.len() + 1;
            h.score = score;
            hits.push(h);
        }
    }
    Ok(hits)
}

/// Reciprocal rank fusion: `sum 1 / (RRF_K + rank)` over the lists a chunk appears in.
pub fn rrf(lists: &[&[(i64, f32)]], k: usize) -> Vec<(i64, f32)> {
    let weighted: Vec<(&[(i64, f32)], f32)> = lists.iter().map(|l| (*l, 1.0)).collect();
    rrf_weighted(&weighted, k)
}

/// Weighted reciprocal rank fusion: `sum w / (RRF_K + rank)` over the lists (see [`fuse`]), so
/// that a weaker retriever can vote with less weight; a list of weight 0 does not vote.
pub fn rrf_weighted(lists: &[(&[(i64, f32)], f32)], k: usize) -> Vec<(i64, f32)> {
    let voting: Vec<(&[(i64, f32)], f32)> = lists.iter().copied().filter(|&(_, w)| w > 0.0).collect();
    let ranked: Vec<&[(i64, f32)]> = voting.iter().map(|&(l, _)| l).collect();
    fuse(&ranked, |list, _| voting[list].1, k)
}

/// `sum weight(list, id) / (RRF_K + rank)` over the lists, best first, the top `k` of those
/// above zero. A chunk a list did not return counts as ranked just past that list's end: a
/// list that ran out (BM25 matches few chunks of a small corpus) must not outvote the other
/// list's ranks by its mere presence.
fn fuse(lists: &[&[(i64, f32)]], weight: impl Fn(usize, i64) -> f32, k: usize) -> Vec<(i64, f32)> {
    let mut acc: std::collections::HashMap<i64, f32> = std::collections::HashMap::new();
    for (l, list) in lists.iter().enumerate() {
        for (rank, &(id, _)) in list.iter().enumerate() {
            *acc.entry(id).or_default() += weight(l, id) / (RRF_K + rank as f32 + 1.0);
        }
    }
    for (l, list) in lists.iter().enumerate() {
        let present: std::collections::HashSet<i64> = list.iter().map(|&(id, _)| id).collect();
        for (&id, v) in acc.iter_mut() {
            if !present.contains(&id) {
                *v += weight(l, id) / (RRF_K + list.len() as f32 + 1.0);
            }
        }
    }
    let mut fused: Vec<(i64, f32)> = acc.into_iter().filter(|&(_, v)| v > 0.0).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused.truncate(k);
    fused
}

/// The two ranked lists hybrid retrieval fuses, for one query, before fusion. Exposed so that
/// fusion settings can be measured without embedding each query once per setting.
#[derive(Debug, Clone)]
pub struct Legs {
    pub query_vector: Vec<f32>,
    pub dense: Vec<(i64, f32)>,
    pub lexical: Vec<(i64, f32)>,
}

/// Embeds `query` once and returns the top `depth` chunks of each retriever, unfiltered.
pub fn legs(lib: &dyn SearchBackend, embedder: &dyn Embedder, query: &str, depth: usize) -> Result<Legs> {
    let query_vector = embedder.embed_queries(&[query.trim()])?.remove(0);
    let dense = lib.dense_top_k(&query_vector, depth, &Selection::All)?;
    let lexical = lib.lexical_top_k(query.trim(), depth, &Selection::All)?;
    Ok(Legs {
        query_vector,
        dense,
        lexical,
    })
}

/// The result of one retrieval: hits, the query vector (for answerers) and timings.
#[derive(Debug, Clone)]
pub struct Retrieval {
    pub hits: Vec<Hit>,
    pub query_vector: Vec<f32>,
    pub timings: Timings,
}

/// Retrieves the `k` best chunks for `query` with `mode`.
///
/// A query typed in lower case is embedded again with the names its passages write
/// capitalised ("c'est qui ross gan" → "c'est qui Ross Gan", [`recase`]), and retrieved
/// again: the embedder reads case, and the passage that introduces Ross Gan only comes back
/// for the cased query. Lexical search ignores case, so lexical mode never does this.
///
/// [`recase`]: crate::answer::recase
pub fn retrieve(
    lib: &dyn SearchBackend,
    embedder: &dyn Embedder,
    query: &str,
    k: usize,
    filters: &Filters,
    mode: Mode,
) -> Result<Retrieval> {
    let first = retrieve_as_typed(lib, embedder, query, k, filters, mode)?;
    if mode == Mode::Lexical {
        return Ok(first);
    }
    let texts: Vec<&str> = first.hits.iter().map(|h| h.text.as_str()).collect();
    let cased = crate::answer::recase(query.trim(), &texts);
    if cased == query.trim() {
        return Ok(first);
    }
    let mut again = retrieve_as_typed(lib, embedder, &cased, k, filters, mode)?;
    again.timings.embed_ms += first.timings.embed_ms;
    again.timings.search_ms += first.timings.search_ms;
    again.timings.total_ms += first.timings.total_ms;
    Ok(again)
}

fn retrieve_as_typed(
    lib: &dyn SearchBackend,
    embedder: &dyn Embedder,
    query: &str,
    k: usize,
    filters: &Filters,
    mode: Mode,
) -> Result<Retrieval> {
    let t0 = Instant::now();
    let query = query.trim();
    if query.is_empty() {
        return Err(Error::EmptyQuery);
    }
    if lib.chunk_count()? == 0 {
        return Err(Error::EmptyIndex { path: lib.location() });
    }
    let te = Instant::now();
    let q = embedder
        .embed_queries(&[query])
        .map_err(|e| match e {
            Error::InputTooLong { tokens, max } => Error::QueryTooLong { tokens, max },
            e => e,
        })?
        .remove(0);
    let embed_ms = te.elapsed().as_secs_f64() * 1e3;
    let ts = Instant::now();
    let selection = lib.select(filters)?;
    if selection.is_empty() {
        return Ok(Retrieval {
            hits: Vec::new(),
            query_vector: q,
            timings: Timings {
                embed_ms,
                ..Default::default()
            },
        });
    }
    let depth = if mode == Mode::Hybrid { FUSION_DEPTH.max(k) } else { k };
    let dense_list = if mode != Mode::Lexical {
        lib.dense_top_k(&q, depth, &selection)?
    } else {
        Vec::new()
    };
    let lexical_list = if mode != Mode::Dense {
        lib.lexical_top_k(query, depth, &selection)?
    } else {
        Vec::new()
    };
    let mut hits = match mode {
        Mode::Dense => hits_from(lib, &dense_list)?,
        Mode::Lexical => hits_from(lib, &lexical_list)?,
        Mode::Hybrid => hybrid_hits(lib, query, &dense_list, &lexical_list, k)?,
    };
    // Similarity to the query for every hit: answerers and abstention rely on it.
    let ids: Vec<i64> = hits.iter().map(|h| h.chunk_id).collect();
    let vectors = lib.embeddings(&ids)?;
    for h in &mut hits {
        if let Some(v) = vectors.get(&h.chunk_id) {
            h.similarity = Some(crate::vecmath::dot(&q, v));
        }
    }
    let search_ms = ts.elapsed().as_secs_f64() * 1e3;
    Ok(Retrieval {
        hits,
        query_vector: q,
        timings: Timings {
            embed_ms,
            search_ms,
            total_ms: t0.elapsed().as_secs_f64() * 1e3,
        },
    })
}

/// Time spent in each stage of a search, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub embed_ms: f64,
    pub search_ms: f64,
    pub total_ms: f64,
}

/// Turns (chunk id, score) pairs into hits, keeping their order.
pub fn hits_from(lib: &dyn SearchBackend, scored: &[(i64, f32)]) -> Result<Vec<Hit>> {
    let ids: Vec<i64> = scored.iter().map(|s| s.0).collect();
    let rows = lib.chunks_by_ids(&ids)?;
    let by_id: std::collections::HashMap<i64, (ChunkRow, ArticleRow)> =
        rows.into_iter().map(|(c, a)| (c.id, (c, a))).collect();
    let mut hits = Vec::with_capacity(scored.len());
    for &(id, score) in scored {
        let Some((c, a)) = by_id.get(&id) else { continue };
        hits.push(Hit {
            rank: hits.len() + 1,
            score,
            similarity: None,
            chunk_id: c.id,
            article_id: a.id.clone(),
            title: a.title.clone(),
            date: a.date.clone(),
            lang: a.lang.clone(),
            path: a.source_path.clone(),
            line_start: c.line_start,
            line_end: c.line_end,
            start: c.start,
            end: c.end,
            snippet: snippet(&c.text, 220),
            text: c.text.clone(),
        });
    }
    Ok(hits)
}

/// The first `max` characters of a text on one line, cut at a word boundary.
pub fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(lang: &str, date: Option<&str>) -> ArticleRow {
        ArticleRow {
            id: "news/000.txt".into(),
            source_path: "/data/news/000.txt".into(),
            title: None,
            date: date.map(str::to_string),
            lang: Some(lang.into()),
            url: None,
            hash: String::new(),
        }
    }

    #[test]
    fn date_filters_compare_at_the_coarser_precision() {
        let a = article("fr", Some("2025-04"));
        let f = |since: Option<&str>, until: Option<&str>| Filters::parse(None, since, until, None).unwrap();
        assert!(f(Some("2025"), None).accepts(&a));
        assert!(f(Some("2025-04-01"), None).accepts(&a));
        assert!(!f(Some("2025-05"), None).accepts(&a));
        assert!(f(None, Some("2025-04-30")).accepts(&a));
        assert!(!f(None, Some("2025-03")).accepts(&a));
        assert!(!f(Some("2020"), None).accepts(&article("fr", None)));
        assert!(f(Some("2025-01"), None).accepts(&article("fr", Some("2025-04"))));
    }

    #[test]
    fn free_text_and_impossible_dates_fail_date_filters_without_panicking() {
        let since = Filters::parse(None, Some("2025"), None, None).unwrap();
        for stored in ["été", "hier", "2025-02-31", "🎉🎉", "mardi dernier", "Été 2024", ""] {
            assert!(!since.accepts(&article("fr", Some(stored))), "{stored}");
            assert!(Filters::default().accepts(&article("fr", Some(stored))));
        }
        assert!(since.accepts(&article("fr", Some("2025-02-28"))));
    }

    #[test]
    fn bad_filter_text_is_refused() {
        for (since, until) in [
            (Some("2025-1"), None),
            (None, Some("2024-13")),
            (Some("99999"), None),
            (Some("2025-02-31"), None),
            (Some("hier"), None),
            (Some("2025-06"), Some("2025-01")),
        ] {
            let e = Filters::parse(None, since, until, None).unwrap_err();
            assert!(matches!(e, Error::InvalidOption { .. }), "{since:?} {until:?}: {e}");
        }
        assert!(Filters::parse(Some("xx"), None, None, None).is_err());
        assert!(Filters::parse(None, None, None, Some("[")).is_err());
        let f = Filters::parse(Some("fr-FR"), Some(" 2025 "), None, Some("news/*")).unwrap();
        assert_eq!(f.lang.as_deref(), Some("fr"));
    }

    proptest::proptest! {
        #[test]
        fn any_stored_date_or_language_is_filtered_without_panic(
            date in proptest::option::of("\\PC{0,16}"),
            lang in proptest::option::of("\\PC{0,8}"),
        ) {
            let mut a = article("fr", date.as_deref());
            a.lang = lang;
            for f in [
                Filters::parse(Some("fr"), Some("2025"), Some("2025-06-30"), Some("news/*")).unwrap(),
                Filters::parse(None, None, Some("2024-02-29"), None).unwrap(),
            ] {
                let ok = f.accepts(&a);
                if ok {
                    let d = PartialDate::from_stored(a.date.as_deref().unwrap()).unwrap();
                    proptest::prop_assert!(f.dates.accepts(d));
                }
            }
        }
    }

    #[test]
    fn lang_and_source_filters() {
        let a = article("fr", None);
        let lang = |l: &str| Filters {
            lang: Some(l.into()),
            ..Default::default()
        };
        assert!(lang("fr").accepts(&a));
        assert!(!lang("en").accepts(&a));
        let src = |g: &str| Filters {
            source: Some(glob::Pattern::new(g).unwrap()),
            ..Default::default()
        };
        assert!(src("news/*").accepts(&a));
        assert!(src("*/000.txt").accepts(&a));
        assert!(!src("sport/*").accepts(&a));
    }

    #[test]
    fn rrf_rewards_agreement() {
        let dense = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let lexical = [(3, 12.0), (4, 11.0), (1, 3.0)];
        let fused = rrf(&[&dense, &lexical], 10);
        // Weight 1 on both is plain RRF; weight 0 drops a list.
        assert_eq!(rrf_weighted(&[(&dense, 1.0), (&lexical, 1.0)], 10), fused);
        let dense_only: Vec<i64> = rrf_weighted(&[(&dense, 1.0), (&lexical, 0.0)], 10)
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(dense_only, vec![1, 2, 3]);
        // A lexical vote at the head of a long list lifts 3 over the dense leader at weight 1
        // (1/63 + 1/61 > 1/61 + 1/71, 1 being past the end of ten), and no longer at 0.01.
        let long: Vec<(i64, f32)> = std::iter::once((3, 5.0)).chain((10..19).map(|i| (i, 1.0))).collect();
        let ids = |w: f32| -> Vec<i64> {
            rrf_weighted(&[(&dense, 1.0), (&long, w)], 3)
                .iter()
                .map(|f| f.0)
                .collect()
        };
        assert_eq!(ids(1.0)[0], 3);
        assert_eq!(ids(0.01), vec![1, 2, 3]);
        let ids: Vec<i64> = fused.iter().map(|f| f.0).collect();
        // 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie, lower id first); 2: 1/62 + 1/64 and 4: 1/64 +
        // 1/62, each past the end of the list that lacks it.
        assert_eq!(ids, vec![1, 3, 2, 4]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
        assert_eq!(rrf(&[&dense, &lexical], 2).len(), 2);
    }

    #[test]
    fn a_short_list_does_not_outvote_by_presence() {
        // BM25 on a small corpus matches few chunks: the dense third (7), which shares no word
        // with the query, must stay above chunks the dense list ranks last but BM25 matched.
        let dense: Vec<(i64, f32)> = (1..=12).map(|i| (i, 1.0 - i as f32 / 100.0)).collect();
        let lexical = [(1, 6.0), (2, 4.0), (11, 0.2), (12, 0.1)];
        let fused: Vec<i64> = rrf_weighted(&[(&dense, 1.0), (&lexical, 0.3)], 12)
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(&fused[..3], &[1, 2, 3]);
        let pos = |id: i64| fused.iter().position(|&x| x == id).unwrap();
        assert!(pos(7) < pos(11), "{fused:?}");
    }

    #[test]
    fn keyword_queries_let_bm25_lead() {
        assert_eq!(fusion_weights("862,1 milliards"), (LEXICAL_WEIGHT, 1.0));
        assert_eq!(fusion_weights("  Wilbur   Ross "), (LEXICAL_WEIGHT, 1.0));
        assert_eq!(fusion_weights("Who founded Huawei?"), (1.0, LEXICAL_WEIGHT));
        assert_eq!(fusion_weights("Huawei IBM consultants"), (LEXICAL_WEIGHT, 1.0));
        assert_eq!(fusion_weights("Qui est Ross Gan ?"), (1.0, LEXICAL_WEIGHT));
        assert_eq!(
            fusion_weights("Combien de consultants IBM envoie-t-il ?"),
            (1.0, LEXICAL_WEIGHT)
        );
    }

    #[test]
    fn modes_parse() {
        assert_eq!("Hybrid".parse::<Mode>().unwrap(), Mode::Hybrid);
        assert_eq!("bm25".parse::<Mode>().unwrap(), Mode::Lexical);
        assert!("fast".parse::<Mode>().is_err());
    }

    #[test]
    fn snippet_cuts_at_words() {
        assert_eq!(snippet("a  b\nc", 10), "a b c");
        let s = snippet(&"mot ".repeat(100), 20);
        assert!(s.ends_with('…') && s.chars().count() <= 21, "{s}");
    }
}

//! Chunking tests: examples, then properties over generated French/English texts.
#![allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]

use super::*;
use proptest::prelude::*;

fn article(text: &str, blocks: Vec<Range<usize>>, line_base: u32) -> Article {
    Article {
        id: "t.txt".into(),
        text: text.into(),
        blocks,
        line_base,
        ..Article::default()
    }
}

fn whole(text: &str) -> Article {
    article(text, vec![0..text.len()], 1)
}

fn cfg(max_tokens: usize, overlap_sentences: usize) -> ChunkerConfig {
    ChunkerConfig {
        max_tokens,
        overlap_sentences,
    }
}

/// Counts chars: a counter that disagrees with word sums, to exercise verification.
struct CharCounter;
impl TokenCounter for CharCounter {
    fn count(&self, text: &str) -> usize {
        text.chars().count()
    }
}

#[test]
fn packs_sentences_with_overlap() {
    let text = "Un deux trois. Quatre cinq six. Sept huit neuf. Dix onze douze.";
    let chunks = chunk_article(&whole(text), &cfg(6, 1), &WhitespaceCounter);
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Un deux trois. Quatre cinq six.",
            "Quatre cinq six. Sept huit neuf.",
            "Sept huit neuf. Dix onze douze."
        ]
    );
    assert_eq!(chunks[1].ordinal, 1);
    assert_eq!(&text[chunks[1].start..chunks[1].end], chunks[1].text);
}

#[test]
fn no_overlap_when_it_leaves_no_room() {
    let text = "Un deux trois quatre. Cinq six sept huit. Neuf.";
    let chunks = chunk_article(&whole(text), &cfg(4, 1), &WhitespaceCounter);
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, vec!["Un deux trois quatre.", "Cinq six sept huit.", "Neuf."]);
    let chunks = chunk_article(&whole(text), &cfg(5, 3), &WhitespaceCounter);
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, vec!["Un deux trois quatre.", "Cinq six sept huit. Neuf."]);
}

#[test]
fn blocks_are_joined_with_newlines_and_gaps_skipped() {
    let text = "Titre\n\nPremier bloc.\n\nPublicité\n\nSecond bloc.";
    let b1 = text.find("Premier").unwrap();
    let b2 = text.find("Second").unwrap();
    let blocks = vec![b1..b1 + "Premier bloc.".len(), b2..text.len()];
    let chunks = chunk_article(&article(text, blocks, 10), &cfg(50, 1), &WhitespaceCounter);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].text, "Premier bloc.\nSecond bloc.");
    assert_eq!((chunks[0].line_start, chunks[0].line_end), (12, 16));
}

#[test]
fn long_sentence_is_split_at_words_then_chars() {
    let text = "un deux trois quatre cinq six sept huit neuf dix onze";
    let chunks = chunk_article(&whole(text), &cfg(4, 1), &WhitespaceCounter);
    assert!(chunks.iter().all(|c| WhitespaceCounter.count(&c.text) <= 4));
    assert_eq!(chunks[0].text, "un deux trois quatre");
    let covered: usize = chunks.iter().map(|c| WhitespaceCounter.count(&c.text)).sum();
    assert!(covered >= 11);

    let text = "Anticonstitutionnellement été.";
    let chunks = chunk_article(&whole(text), &cfg(7, 0), &CharCounter);
    assert!(chunks.iter().all(|c| c.text.chars().count() <= 7), "{chunks:?}");
    let rebuilt: String = chunks.iter().map(|c| c.text.replace(' ', "")).collect();
    assert_eq!(rebuilt, "Anticonstitutionnellementété.");
}

#[test]
fn estimate_errors_are_corrected() {
    // Sentence counts sum below the budget, the joined text does not (spaces count as chars).
    let text = "Aaaa. Bbbb. Cccc. Dddd.";
    let chunks = chunk_article(&whole(text), &cfg(10, 1), &CharCounter);
    assert!(chunks.iter().all(|c| c.text.chars().count() <= 10), "{chunks:?}");
    assert_eq!(chunks.last().unwrap().text, "Dddd.");
}

#[test]
fn degenerate_inputs() {
    assert!(chunk_article(&whole(""), &cfg(10, 1), &WhitespaceCounter).is_empty());
    assert!(chunk_article(&whole("   \n "), &cfg(10, 1), &WhitespaceCounter).is_empty());
    assert!(chunk_article(&whole("Texte."), &cfg(0, 1), &WhitespaceCounter).is_empty());
    let bad = article("é et à", vec![1..3, 0..100, 4..2], 1);
    let chunks = chunk_article(&bad, &cfg(10, 1), &WhitespaceCounter);
    assert!(chunks.is_empty());
    // Overlapping and unsorted blocks are merged.
    let text = "Un. Deux. Trois.";
    let chunks = chunk_article(&article(text, vec![4..16, 0..9], 1), &cfg(10, 1), &WhitespaceCounter);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].text, text);
}

#[test]
fn line_base_from_jsonl() {
    let text = "Première phrase.\nDeuxième phrase.";
    let chunks = chunk_article(&article(text, vec![0..text.len()], 7), &cfg(2, 0), &WhitespaceCounter);
    assert_eq!(chunks.len(), 2);
    assert_eq!((chunks[0].line_start, chunks[0].line_end), (7, 7));
    assert_eq!((chunks[1].line_start, chunks[1].line_end), (8, 8));
}

#[test]
fn seed_like_article() {
    let text = " date 2025-04 La Huawei European Partner Conference 2025 a réuni plus de 1.000 partenaires à Côme en Italie. La majorité des ventes de sa division Entreprises sont réalisées par l’intermédiaire des partenaires.\n\n« Les entreprises seront le principal moteur de croissance de Huawei en Europe, c’est pourquoi nous y investirons davantage », a déclaré Willi Song. « Notre approche consiste toujours à travailler avec des partenaires. »";
    let start = text.find("La Huawei").unwrap();
    let chunks = chunk_article(
        &article(
            text,
            vec![start..text.find("\n\n").unwrap(), text.find('«').unwrap()..text.len()],
            1,
        ),
        &cfg(40, 1),
        &WhitespaceCounter,
    );
    assert!(chunks.len() >= 2);
    assert!(chunks[0].text.starts_with("La Huawei"));
    assert!(chunks.iter().all(|c| !c.text.contains("date 2025")));
}

// ---- properties ----

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "Huawei", "l’État", "été", "à", "déjà", "P-DG", "M.", "Mme", "1.000", "862,1", "«", "»",
            "“quote”", "naïve", "Œuvre", "garçon", "日本語", "😀", "Ωmega", "e.g.", "J.", "n°", "x",
            "c’est", "(voir", "ci-dessus)", "—", "...", "…", "!", "?", "\u{a0}»", "«\u{a0}",
        ]).prop_map(str::to_string),
        3 => "[a-zéèàçôœ]{1,10}",
        1 => "[A-ZÉ][a-zé]{0,8}",
        1 => "[a-zé😀]{20,90}",
    ]
}

fn sentence() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(word(), 1..25),
        prop::sample::select(vec![".", "!", "?", "…", "", "...", ". »", " ?", "."]),
        prop::sample::select(vec![" ", "  ", "\u{a0}", "\n", " \n "]),
    )
        .prop_map(|(words, end, sep)| format!("{}{end}{sep}", words.join(" ")))
}

/// Text made of paragraphs, some of which are blocks; returns text, blocks and line base.
fn article_strategy() -> impl Strategy<Value = Article> {
    (
        prop::collection::vec((prop::collection::vec(sentence(), 1..8), any::<bool>()), 1..8),
        1u32..50,
    )
        .prop_map(|(paras, line_base)| {
            let mut text = String::new();
            let mut blocks = Vec::new();
            for (sentences, is_block) in paras {
                let p = sentences.concat();
                let start = text.len();
                text.push_str(&p);
                if is_block {
                    blocks.push(start..text.len());
                }
                text.push_str("\n\n");
            }
            Article {
                text,
                blocks,
                line_base,
                ..Article::default()
            }
        })
}

fn check_properties(a: &Article, cfg: &ChunkerConfig) -> Result<(), TestCaseError> {
    let chunks = chunk_article(a, cfg, &WhitespaceCounter);
    let text = &a.text;
    for (i, c) in chunks.iter().enumerate() {
        prop_assert_eq!(c.ordinal as usize, i);
        // (2) spans on char boundaries, inside text
        prop_assert!(c.start < c.end && c.end <= text.len());
        prop_assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end));
        // (3) budget
        prop_assert!(
            WhitespaceCounter.count(&c.text) <= cfg.max_tokens,
            "{} tokens: {:?}",
            WhitespaceCounter.count(&c.text),
            c.text
        );
        // (4) only block content
        for line in c.text.split('\n') {
            prop_assert!(
                a.blocks.iter().any(|b| text[b.clone()].contains(line)),
                "line {:?} is not block content",
                line
            );
        }
        prop_assert!(!c.text.trim().is_empty());
        // (5) lines match the span
        let base = a.line_base.max(1);
        prop_assert_eq!(c.line_start, base + text[..c.start].matches('\n').count() as u32);
        prop_assert_eq!(c.line_end, base + text[..c.end].matches('\n').count() as u32);
        prop_assert!(c.line_start <= c.line_end);
    }
    // (1) coverage of every non-whitespace byte of every block
    for b in &a.blocks {
        for (i, ch) in text[b.clone()].char_indices() {
            if ch.is_whitespace() {
                continue;
            }
            let at = b.start + i;
            prop_assert!(
                chunks.iter().any(|c| c.start <= at && at < c.end),
                "byte {} ({:?}) not covered",
                at,
                ch
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::test_support::fuzz_cases(200)))]

    #[test]
    fn chunk_properties(a in article_strategy(), max in 1usize..40, overlap in 0usize..3) {
        check_properties(&a, &cfg(max, overlap))?;
    }

    #[test]
    fn chunk_properties_arbitrary_text(text in "\\PC{0,300}", cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6), max in 1usize..12) {
        // Blocks between sorted char-boundary cut points, every other gap left out.
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| bounds[c.index(bounds.len())]).collect();
        points.push(0);
        points.push(text.len());
        points.sort_unstable();
        points.dedup();
        let blocks: Vec<Range<usize>> = points.windows(2).step_by(2).map(|w| w[0]..w[1]).collect();
        let a = article(&text, blocks, 1);
        check_properties(&a, &cfg(max, 1))?;
    }

    #[test]
    fn sentences_are_trimmed_and_ordered(text in "\\PC{0,200}") {
        let s = split_sentences(&text, 0..text.len());
        let mut prev = 0;
        for r in &s {
            prop_assert!(r.start >= prev && r.start < r.end && r.end <= text.len());
            prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            let t = &text[r.clone()];
            prop_assert_eq!(t, t.trim());
            prop_assert!(text[prev..r.start].trim().is_empty());
            prev = r.end;
        }
        prop_assert!(text[prev..].trim().is_empty());
    }
}

/// Any characters, control and combining ones included, weighted towards what the sentence
/// splitter and the packer look at (terminators, quotes, line breaks, multi-byte text).
fn noisy_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec![
                ".", "!", "?", "…", "...", " ", "  ", "\n", "\r", "\r\n", "\n\n", "\t", "\u{a0}", "\u{202f}",
                "«", "»", "\"", "“", "”", "(", ")", "M.", "1.", "e.g.", "é", "😀", "日本", "e\u{301}",
                "\u{200d}", "\u{2028}", "\u{85}", "\u{0}", "\u{feff}", "Œ", "ß",
            ])
            .prop_map(str::to_string),
            2 => "[a-zA-Zé]{1,12}",
            1 => any::<String>(),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::test_support::fuzz_cases(200)))]

    /// Noisy text cut into blocks at arbitrary char boundaries: the chunks cover every
    /// non-blank block byte, stay in budget, and their spans and lines are right.
    #[test]
    fn chunk_properties_noisy_text(
        text in noisy_text(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        max in 1usize..16,
        overlap in 0usize..3,
        line_base in 0u32..5,
    ) {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| bounds[c.index(bounds.len())]).collect();
        points.push(0);
        points.push(text.len());
        points.sort_unstable();
        points.dedup();
        let blocks: Vec<Range<usize>> = points.windows(2).step_by(2).map(|w| w[0]..w[1]).collect();
        check_properties(&article(&text, blocks, line_base), &cfg(max, overlap))?;
    }

    /// Blocks as a damaged store or a buggy parser could hand them over (out of bounds, inside
    /// a character, reversed, overlapping): no panic, and every chunk is still a valid span
    /// of the text with ordered lines.
    #[test]
    fn chunking_survives_any_blocks(
        text in noisy_text(),
        blocks in prop::collection::vec((0usize..400, 0usize..400), 0..8),
        max in 1usize..16,
    ) {
        let blocks: Vec<Range<usize>> = blocks.into_iter().map(|(a, b)| a..b).collect();
        let a = article(&text, blocks, 1);
        let chunks = chunk_article(&a, &cfg(max, 1), &CharCounter);
        let mut prev_line = 1;
        for c in &chunks {
            prop_assert!(c.start < c.end && c.end <= text.len());
            prop_assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end));
            prop_assert!(c.line_start >= prev_line && c.line_start <= c.line_end);
            prop_assert!(c.line_end as usize <= 1 + text.matches('\n').count());
            prev_line = c.line_start;
        }
    }

    /// Sentences of any char-boundary sub-range stay inside it, trimmed and in order.
    #[test]
    fn sentences_of_a_sub_range_stay_inside_it(text in noisy_text(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
        let (x, y) = (bounds[a.index(bounds.len())], bounds[b.index(bounds.len())]);
        let range = x.min(y)..x.max(y);
        let mut prev = range.start;
        for r in split_sentences(&text, range.clone()) {
            prop_assert!(r.start >= prev && r.start < r.end && r.end <= range.end);
            prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            let t = &text[r.clone()];
            prop_assert_eq!(t, t.trim());
            prev = r.end;
        }
    }
}

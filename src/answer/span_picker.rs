//! The learned span picker: which words of an answer sentence are the fact, for every kind of
//! question, including the "what / which / quel" ones that carry no type cue.
//!
//! Every run of up to [`MAX_SPAN_TOKENS`] words of the sentence is a candidate. Each gets a
//! few dozen sparse, mostly language-neutral features: its length and shape (capitalised,
//! number, date), the word classes at its edges and around it, how far it sits from the words
//! it shares with the question, whether it repeats them, the punctuation that bounds it, and
//! whether the hand-written type rules of [`span`](super::span) chose it. A linear score
//! over them is a conditional logit over the sentence's candidates (one softmax per question).
//!
//! Why not the encoder: linear heads over EmbeddingGemma's frozen states reached span F1 0.28
//! on the gold sentence (`docs/benchmarks.md`), and reading pairs costs about 0.3 s per answer;
//! these lexical features cost microseconds. The weights ship as `span_picker.json` (compiled
//! in, versioned, with how they were trained); `cargo run --release --example
//! train_span_picker` retrains them from PIAF v1.0's even-numbered questions.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::features::{AnswerType, expected_type, fold, is_date_token, is_number_token, question_words, tokens};
use super::span::fact_span;

/// Version of the picker file format and of its feature set.
pub const PICKER_FORMAT: u32 = 1;

/// Longest candidate, in words. PIAF's gold answers are 1–12 words for 95 % of questions.
pub const MAX_SPAN_TOKENS: usize = 12;

/// French and English function words: determiners, prepositions, pronouns, auxiliaries and
/// conjunctions. They name their own feature at a span's edge, since "de" before a span and
/// "de" as its first word mean different things.
const FUNCTION_WORDS: &[&str] = &[
    "le", "la", "les", "l'", "un", "une", "des", "du", "de", "d'", "au", "aux", "a", "en", "dans", "par", "pour",
    "sur", "avec", "sans", "sous", "entre", "chez", "vers", "et", "ou", "mais", "donc", "que", "qu'", "qui", "dont",
    "ne", "n'", "pas", "plus", "il", "elle", "ils", "elles", "on", "se", "s'", "son", "sa", "ses", "leur", "leurs",
    "ce", "cet", "cette", "ces", "est", "sont", "etait", "ete", "fut", "avait", "ont", "comme", "lors", "apres",
    "avant", "depuis", "selon", "the", "an", "of", "in", "on", "at", "by", "for", "with", "to", "from", "and", "or",
    "but", "that", "which", "who", "is", "are", "was", "were", "be", "been", "has", "have", "had", "its", "his", "her",
    "their", "this", "these", "as", "after", "before", "since",
];

/// English function words as their French counterparts, so that weights learnt on French
/// questions (PIAF) carry over to English sentences: "by Ren Zhengfei in Shenzhen" reads as
/// "par … en …".
const ENGLISH_AS_FRENCH: &[(&str, &str)] = &[
    ("the", "le"),
    // Not "a": it is also French "à" once folded.
    ("an", "un"),
    ("of", "de"),
    ("from", "de"),
    ("in", "en"),
    ("into", "dans"),
    ("on", "sur"),
    ("at", "a"),
    ("to", "a"),
    ("by", "par"),
    ("for", "pour"),
    ("with", "avec"),
    ("without", "sans"),
    ("under", "sous"),
    ("between", "entre"),
    ("and", "et"),
    ("or", "ou"),
    ("but", "mais"),
    ("that", "que"),
    ("which", "qui"),
    ("who", "qui"),
    ("is", "est"),
    ("are", "sont"),
    ("was", "etait"),
    ("were", "etaient"),
    ("been", "ete"),
    ("has", "a"),
    ("have", "ont"),
    ("had", "avait"),
    ("its", "son"),
    ("his", "son"),
    ("her", "sa"),
    ("their", "leur"),
    ("this", "ce"),
    ("these", "ces"),
    ("as", "comme"),
    ("after", "apres"),
    ("before", "avant"),
    ("since", "depuis"),
];

/// A folded word as the picker's lexical features see it.
fn canonical(folded: &str) -> &str {
    ENGLISH_AS_FRENCH
        .iter()
        .find(|(en, _)| *en == folded)
        .map_or(folded, |(_, fr)| fr)
}

/// Question words naming what is asked, in French and English.
const WH: &[(&str, &str)] = &[
    ("combien", "combien"),
    ("quand", "quand"),
    ("pourquoi", "pourquoi"),
    ("comment", "comment"),
    ("où", "ou"),
    ("qui", "qui"),
    ("quel", "quel"),
    ("quelle", "quel"),
    ("quels", "quel"),
    ("quelles", "quel"),
    ("lequel", "quel"),
    ("laquelle", "quel"),
    ("que", "que"),
    ("qu'", "que"),
    ("quoi", "que"),
    ("how", "how"),
    ("what", "what"),
    ("which", "which"),
    ("who", "who"),
    ("whom", "who"),
    ("whose", "who"),
    ("when", "when"),
    ("where", "where"),
    ("why", "why"),
];

/// What the picker needs from a question, computed once per question.
#[derive(Debug, Clone)]
pub struct QuestionCues {
    kind: AnswerType,
    wh: &'static str,
    /// Folded words of the question (all of them, for "does the span repeat the question").
    all: HashSet<String>,
    /// Folded content words and their five-letter stems, for "near the question's words".
    content: HashSet<String>,
    /// The noun after quel / which ("quelle ville" → "ville"), folded.
    head: Option<String>,
}

fn stem(w: &str) -> String {
    w.chars().take(5).collect()
}

impl QuestionCues {
    pub fn new(question: &str) -> QuestionCues {
        let toks = tokens(question);
        let low: Vec<String> = toks.iter().map(|t| t.text.to_lowercase()).collect();
        let wh = low
            .iter()
            .find_map(|w| WH.iter().find(|(k, _)| k == w).map(|(_, v)| *v))
            .unwrap_or("none");
        let head = low
            .iter()
            .position(|w| matches!(w.as_str(), "quel" | "quelle" | "quels" | "quelles" | "which" | "what"))
            .and_then(|i| low.get(i + 1))
            .map(|w| fold(w))
            .filter(|w| w.chars().count() >= 3 && !FUNCTION_WORDS.contains(&w.as_str()));
        let mut content = HashSet::new();
        for t in &toks {
            let f = fold(t.text);
            let f = f.trim_end_matches('\'');
            if f.chars().count() >= 3 && !FUNCTION_WORDS.contains(&f) && !WH.iter().any(|(k, _)| fold(k) == f) {
                content.insert(f.to_string());
                if f.chars().count() >= 6 {
                    content.insert(format!("~{}", stem(f)));
                }
            }
        }
        QuestionCues {
            kind: expected_type(question),
            wh,
            all: question_words(question),
            content,
            head,
        }
    }

    fn matches(&self, folded: &str) -> bool {
        let f = folded.trim_end_matches('\'');
        self.content.contains(f) || (f.chars().count() >= 6 && self.content.contains(&format!("~{}", stem(f))))
    }
}

/// The class of a word (`folded` is its [`fold`]), for features that should not depend on the
/// word itself.
fn class(t: &str, folded: &str, first_in_sentence: bool) -> &'static str {
    if is_date_token(t) {
        "date"
    } else if is_number_token(t) {
        "num"
    } else if FUNCTION_WORDS.contains(&folded) {
        "fn"
    } else if t.chars().next().is_some_and(char::is_uppercase) {
        if first_in_sentence { "cap0" } else { "cap" }
    } else {
        "low"
    }
}

/// The punctuation in a gap between two words, as one feature value.
fn gap_kind(gap: &str) -> &'static str {
    if gap.contains(['(', ')', '[', ']']) {
        "paren"
    } else if gap.contains(['«', '»', '"', '“', '”']) {
        "quote"
    } else if gap.contains([':', ';', '–', '—']) {
        "colon"
    } else if gap.contains(',') {
        "comma"
    } else if gap.contains(['.', '!', '?']) {
        "stop"
    } else {
        "space"
    }
}

fn len_bin(n: usize) -> &'static str {
    match n {
        1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        5 | 6 => "5-6",
        7..=9 => "7-9",
        _ => "10+",
    }
}

fn dist_bin(d: Option<usize>) -> &'static str {
    match d {
        None => "none",
        Some(0) => "0",
        Some(1) => "1",
        Some(2) => "2",
        Some(3 | 4) => "3-4",
        Some(5..=8) => "5-8",
        Some(_) => "9+",
    }
}

/// One candidate span of a sentence and its features.
#[derive(Debug, Clone)]
pub struct SpanCandidate {
    /// Byte range in the sentence.
    pub range: Range<usize>,
    pub features: Vec<String>,
}

/// Every candidate span of `sentence` for the question, with its features.
pub fn candidates(sentence: &str, q: &QuestionCues) -> Vec<SpanCandidate> {
    let toks = tokens(sentence);
    if toks.is_empty() {
        return Vec::new();
    }
    let folded: Vec<String> = toks.iter().map(|t| fold(t.text)).collect();
    let lexical: Vec<&str> = folded.iter().map(|f| canonical(f)).collect();
    let in_q: Vec<bool> = folded.iter().map(|f| q.matches(f)).collect();
    let repeats: Vec<bool> = folded.iter().map(|f| q.all.contains(f)).collect();
    let classes: Vec<&str> = toks
        .iter()
        .zip(&folded)
        .enumerate()
        .map(|(i, (t, f))| class(t.text, f, i == 0))
        .collect();
    let gaps: Vec<&str> = (0..=toks.len())
        .map(|i| {
            let a = if i == 0 { 0 } else { toks[i - 1].end };
            let b = if i == toks.len() { sentence.len() } else { toks[i].start };
            gap_kind(&sentence[a..b.max(a)])
        })
        .collect();
    let heads: Vec<bool> = folded
        .iter()
        .map(|f| {
            q.head
                .as_ref()
                .is_some_and(|h| f == h || (h.chars().count() >= 5 && stem(f) == stem(h)))
        })
        .collect();
    let rule = fact_span(sentence, q.kind, &q.all);
    let kind = format!("{:?}", q.kind);
    let word_or_class = |i: usize| -> String {
        if classes[i] == "fn" {
            lexical[i].to_string()
        } else if in_q[i] {
            "Q".into()
        } else {
            classes[i].into()
        }
    };
    let n = toks.len();
    let mut out = Vec::new();
    for i in 0..n {
        for j in i..n.min(i + MAX_SPAN_TOKENS) {
            // A span never runs over the end of a clause marked by a full stop or a colon.
            if j > i && matches!(gaps[j], "stop" | "colon") {
                break;
            }
            let len = j - i + 1;
            let inside = i..=j;
            let q_inside = inside.clone().filter(|&k| in_q[k]).count();
            let rep_inside = inside.clone().filter(|&k| repeats[k]).count();
            let caps = inside.clone().filter(|&k| matches!(classes[k], "cap" | "cap0")).count();
            let nums = inside.clone().filter(|&k| classes[k] == "num").count();
            let dates = inside.clone().filter(|&k| classes[k] == "date").count();
            let fns = inside.clone().filter(|&k| classes[k] == "fn").count();
            let commas = (i + 1..=j).filter(|&k| gaps[k] != "space").count();
            let left = (0..i).rev().find(|&k| in_q[k]).map(|k| i - k - 1);
            let right = (j + 1..n).find(|&k| in_q[k]).map(|k| k - j - 1);
            let near = match (left, right) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let shape = if caps == len {
                "allcap"
            } else if nums + dates > 0 {
                "num"
            } else if caps > 0 {
                "somecap"
            } else {
                "lower"
            };
            let range = toks[i].start..toks[j].end;
            let rule_rel = match &rule {
                Some(r) if *r == range => "exact",
                Some(r) if r.start >= range.start && r.end <= range.end => "contains",
                Some(r) if r.start < range.end && range.start < r.end => "overlap",
                Some(_) => "apart",
                None => "none",
            };
            let before = if i == 0 { "^".to_string() } else { word_or_class(i - 1) };
            let after = if j + 1 == n {
                "$".to_string()
            } else {
                word_or_class(j + 1)
            };
            let head_before = (i.saturating_sub(3)..i).any(|k| heads[k]);
            let head_in = inside.clone().any(|k| heads[k]);
            let first = word_or_class(i);
            let last = word_or_class(j);
            let pos = if i == 0 {
                "start"
            } else if j + 1 == n {
                "end"
            } else {
                "mid"
            };
            let inq = match (q_inside, rep_inside) {
                (0, 0) => "0",
                (0, _) => "rep",
                (k, _) if k == len => "all",
                (1, _) => "1",
                _ => "2+",
            };
            let bin = len_bin(len);
            let mut f = vec![
                "bias".to_string(),
                format!("len:{bin}"),
                format!("T:{kind}|len:{bin}"),
                format!("W:{}|len:{bin}", q.wh),
                format!("shape:{shape}"),
                format!("T:{kind}|shape:{shape}"),
                format!("W:{}|shape:{shape}", q.wh),
                format!("T:{kind}|len:{bin}|shape:{shape}"),
                format!("first:{first}"),
                format!("last:{last}"),
                format!("T:{kind}|first:{}", classes[i]),
                format!("T:{kind}|last:{}", classes[j]),
                format!("before:{before}"),
                format!("after:{after}"),
                format!("W:{}|before:{before}", q.wh),
                format!("gapL:{}", gaps[i]),
                format!("gapR:{}", gaps[j + 1]),
                format!("gapLR:{}|{}", gaps[i], gaps[j + 1]),
                format!("inq:{inq}"),
                format!("T:{kind}|inq:{inq}"),
                format!("near:{}", dist_bin(near)),
                format!("left:{}", dist_bin(left)),
                format!("right:{}", dist_bin(right)),
                format!("T:{kind}|near:{}", dist_bin(near)),
                format!("rule:{rule_rel}"),
                format!("T:{kind}|rule:{rule_rel}"),
                format!("pos:{pos}"),
                format!("fns:{}", fns.min(3)),
                format!("fnshare:{}", (fns * 4 / len).min(3)),
                format!("commas:{}", commas.min(2)),
            ];
            // Conjunctions a linear score cannot form itself, and the words around the span
            // (verbs such as "appelé", "nommé", "fondé par" announce an answer).
            let lex = |k: usize| {
                if in_q[k] {
                    "Q".to_string()
                } else {
                    lexical[k].to_string()
                }
            };
            let before2 = if i >= 2 { word_or_class(i - 2) } else { "^".into() };
            f.extend([
                format!("bw:{}", if i == 0 { "^".into() } else { lex(i - 1) }),
                format!("aw:{}", if j + 1 == n { "$".into() } else { lex(j + 1) }),
                format!("before2:{before2}|{before}"),
                format!("W:{}|T:{kind}|fl:{}|{}", q.wh, classes[i], classes[j]),
                format!("lr:{}|{}", dist_bin(left), dist_bin(right)),
                format!("W:{}|gaps:{}|{}", q.wh, gaps[i], gaps[j + 1]),
                format!("len:{bin}|fl:{}|{}", classes[i], classes[j]),
                format!("W:{}|near:{}|inq:{inq}", q.wh, dist_bin(near)),
            ]);
            if head_before {
                f.push("head:before".into());
            }
            if head_in {
                f.push("head:in".into());
            }
            if q.head.is_some() {
                f.push(format!("hashead|shape:{shape}"));
            }
            out.push(SpanCandidate { range, features: f });
        }
    }
    out
}

/// The fact to mark in `sentence`: the shipped picker's choice, or the type rules' span when
/// this build ships no picker.
pub fn mark_fact(sentence: &str, q: &QuestionCues) -> Option<Range<usize>> {
    match SpanPicker::shipped() {
        Some(picker) => picker.fact(sentence, q),
        None => fact_span(sentence, q.kind, &q.all),
    }
}

/// A trained picker as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PickerFile {
    pub format: u32,
    pub weights: HashMap<String, f32>,
    /// Mark a span only when the picker's probability for it reaches this.
    pub min_probability: f32,
    /// Answer types for which the hand-written rules of [`span`](super::span) did better on
    /// the selection questions: for these the picker is not asked.
    pub rules_for: Vec<AnswerType>,
    /// How it was trained (data, split, regularisation), for the record.
    pub trained_on: String,
}

/// The picker's choice in one sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked {
    pub range: Range<usize>,
    /// Softmax probability among the sentence's candidates.
    pub probability: f32,
}

#[derive(Debug, Clone)]
pub struct SpanPicker {
    weights: HashMap<String, f32>,
    pub min_probability: f32,
    pub rules_for: Vec<AnswerType>,
}

impl SpanPicker {
    pub fn from_file(f: PickerFile) -> Result<SpanPicker, String> {
        if f.format != PICKER_FORMAT {
            return Err(format!(
                "span picker format {} (this build reads {PICKER_FORMAT})",
                f.format
            ));
        }
        Ok(SpanPicker {
            weights: f.weights,
            min_probability: f.min_probability,
            rules_for: f.rules_for,
        })
    }

    /// The picker compiled into this build, or `None` when none is shipped.
    pub fn shipped() -> Option<&'static SpanPicker> {
        static P: OnceLock<Option<SpanPicker>> = OnceLock::new();
        P.get_or_init(|| {
            let f: Option<PickerFile> =
                serde_json::from_str(include_str!("span_picker.json")).expect("span_picker.json parses");
            f.map(|f| SpanPicker::from_file(f).expect("span_picker.json matches this build"))
        })
        .as_ref()
    }

    pub fn score(&self, features: &[String]) -> f32 {
        features.iter().filter_map(|f| self.weights.get(f)).sum()
    }

    /// The most likely span of `sentence`, with its probability among the candidates.
    pub fn pick(&self, sentence: &str, q: &QuestionCues) -> Option<Picked> {
        let cands = candidates(sentence, q);
        let scores: Vec<f32> = cands.iter().map(|c| self.score(&c.features)).collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = scores.iter().map(|s| (s - max).exp()).sum();
        let (best, _) = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        Some(Picked {
            range: cands[best].range.clone(),
            probability: 1.0 / z,
        })
    }

    /// The fact to mark: the type rules' span for the types they serve best, else the picked
    /// span when the picker is confident enough.
    pub fn fact(&self, sentence: &str, q: &QuestionCues) -> Option<Range<usize>> {
        if self.rules_for.contains(&q.kind) {
            return fact_span(sentence, q.kind, &q.all);
        }
        self.pick(sentence, q)
            .filter(|p| p.probability >= self.min_probability)
            .map(|p| p.range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_every_short_run_and_stop_at_full_stops() {
        let q = QuestionCues::new("Quelle ville accueille le siège ?");
        let s = "Le siège est à Armonk. Il emploie 300 personnes.";
        let c = candidates(s, &q);
        let texts: Vec<&str> = c.iter().map(|c| &s[c.range.clone()]).collect();
        assert!(texts.contains(&"Armonk"));
        assert!(texts.contains(&"300 personnes"));
        assert!(!texts.iter().any(|t| t.contains("Armonk. Il")), "{texts:?}");
        let armonk = c.iter().find(|c| &s[c.range.clone()] == "Armonk").unwrap();
        assert!(armonk.features.contains(&"shape:allcap".to_string()));
        assert!(
            armonk.features.contains(&"before:a".to_string()),
            "{:?}",
            armonk.features
        );
        let siege = c.iter().find(|c| &s[c.range.clone()] == "siège").unwrap();
        assert!(siege.features.contains(&"inq:all".to_string()));
    }

    #[test]
    fn the_question_word_and_its_head_noun_are_read() {
        let q = QuestionCues::new("Dans quelle ville se trouve le siège ?");
        assert_eq!(q.wh, "quel");
        assert_eq!(q.head.as_deref(), Some("ville"));
        assert!(q.matches("siege"));
        assert!(!q.matches("ville") || q.head.is_some());
        let q = QuestionCues::new("How many engineers did the company hire?");
        assert_eq!(q.wh, "how");
        assert_eq!(q.kind, AnswerType::Number);
    }

    /// The shipped weights on small French and English sentences, one per answer type: the
    /// fact marked is the asked one, not the words the question repeats.
    #[test]
    fn the_shipped_picker_marks_the_fact_of_each_answer_type() {
        let p = SpanPicker::shipped().expect("a span picker ships with this build");
        let cases = [
            (
                "Qui a fondé Huawei ?",
                "Huawei a été fondé en 1987 par Ren Zhengfei, un ancien ingénieur de l'armée.",
                "Ren Zhengfei",
            ),
            (
                "Who founded Huawei?",
                "Huawei was founded in 1987 by Ren Zhengfei in Shenzhen.",
                "Ren Zhengfei",
            ),
            (
                "Quand la tour fut-elle achevée ?",
                "La tour fut achevée le 31 mars 1889 pour l'Exposition universelle.",
                "31 mars 1889",
            ),
            (
                "When did the bridge open?",
                "The bridge opened on 12 May 1937 after four years of work.",
                "12 May 1937",
            ),
            // PIAF's annotators often keep the preposition of a place ("à Paris"), and the
            // picker learnt it.
            (
                "Dans quelle ville se trouve le siège du groupe ?",
                "Le siège du groupe se trouve à Armonk, au nord de la ville.",
                "à Armonk",
            ),
            (
                "Combien de consultants IBM envoie-t-il ?",
                "IBM a envoyé 25 consultants chez Huawei en 1998.",
                "25 consultants",
            ),
            (
                "Pourquoi le projet a-t-il été abandonné ?",
                "Le projet a été abandonné parce que les coûts avaient doublé.",
                "parce que les coûts avaient doublé",
            ),
            (
                "Comment s'appelait le premier roi de la ville ?",
                "Le premier roi de la ville s'appelait Romulus, selon la légende.",
                "Romulus",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|&(q, s, want)| {
                let got = p.fact(s, &QuestionCues::new(q)).map(|r| &s[r]);
                (got != Some(want)).then(|| format!("{q} / {s}: {got:?}, not {want:?}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn a_picker_prefers_what_its_weights_favour() {
        let mut weights = HashMap::new();
        weights.insert("shape:allcap".to_string(), 3.0);
        weights.insert("len:1".to_string(), 1.0);
        let p = SpanPicker::from_file(PickerFile {
            format: PICKER_FORMAT,
            weights,
            min_probability: 0.0,
            rules_for: Vec::new(),
            trained_on: String::new(),
        })
        .unwrap();
        let s = "Le siège du groupe est à Armonk depuis longtemps.";
        let got = p.pick(s, &QuestionCues::new("Où est le siège ?")).unwrap();
        assert_eq!(&s[got.range], "Armonk");
        assert!(got.probability > 0.0 && got.probability <= 1.0);
        let wrong = PickerFile {
            format: PICKER_FORMAT + 1,
            weights: HashMap::new(),
            min_probability: 0.0,
            rules_for: Vec::new(),
            trained_on: String::new(),
        };
        assert!(SpanPicker::from_file(wrong).is_err());
    }
}

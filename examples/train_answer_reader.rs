//! Retrains the answer reader (`src/answer/reader.json`) from a SQuAD file, with an honest
//! split: fit on even-numbered questions (0 and 4 mod 8; `--all`: every even one), choose the
//! regularisation and the number of passes on those numbered 1 mod 8, and leave the other
//! odd ones unseen, for reporting.
//!
//! ```sh
//! cargo run --release --example train_answer_reader -- ../shared/eval/piaf/piaf-v1.0.json \
//!     src/answer/reader.json --lang fr --states /tmp/reader-states.bin
//! ```
//!
//! Each question gives a few (question, sentence) pairs read by the embedder: the sentence
//! of its paragraph that holds the gold answer (labelled with the answer's first and last
//! token), and sentences that do not hold it (labelled "none"): the one after the answer's
//! (else the one before) and one from another paragraph of the same article, as when the
//! answer's paragraph is missing. The states are cached in `--states`, since reading them is most of the time.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use sourcier::answer::reader::{self, MAX_SPAN_TOKENS, READER_FORMAT, Reader, ReaderFile, feature_dims};
use sourcier::chunk::split_sentences;
use sourcier::embed::{Embedder, GemmaEmbedder, ModelSpec, PairStates};
use sourcier::eval::input::read_squad;
use sourcier::eval::metrics::squad_f1_em;
use sourcier::models::{self, Paths};
use sourcier::progress::NoProgress;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Train,
    Select,
}

struct Pair {
    q: usize,
    part: Part,
    question: String,
    sentence: String,
    golds: Vec<String>,
    /// Gold answer's byte range in the sentence; `None` for a sentence without the answer.
    answer: Option<std::ops::Range<usize>>,
}

fn build_pairs(path: &str, lang: &str, all: bool, below: usize) -> Vec<Pair> {
    let set = read_squad(path, None, lang).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let docs: HashMap<&str, (&str, &str)> = set
        .docs
        .iter()
        .map(|d| (d.id.as_str(), (d.title.as_str(), d.text.as_str())))
        .collect();
    let mut by_title: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in &set.docs {
        by_title.entry(d.title.as_str()).or_default().push(d.id.as_str());
    }
    let mut pairs = Vec::new();
    for (i, q) in set.queries.iter().enumerate().take(below) {
        // Reading is the cost (about a second per question on two cores), so by default a
        // quarter of the questions train and an eighth select; `--all` takes every even one.
        let part = match (i % 8, all) {
            (0 | 4, _) | (2 | 6, true) => Part::Train,
            (1, _) => Part::Select,
            _ => continue,
        };
        let Some(&(title, text)) = docs.get(q.doc_id.as_str()) else {
            continue;
        };
        let Some((gold, off)) = q.answers.first() else { continue };
        let golds: Vec<String> = q.answers.iter().map(|a| a.0.clone()).collect();
        let sents = split_sentences(text, 0..text.len());
        let Some(g) = sents.iter().position(|r| r.start <= *off && off + gold.len() <= r.end) else {
            continue;
        };
        let holds = |s: &str| golds.iter().any(|a| !a.trim().is_empty() && s.contains(a.trim()));
        let r = &sents[g];
        let mut push = |sentence: &str, answer: Option<std::ops::Range<usize>>| {
            pairs.push(Pair {
                q: i,
                part,
                question: q.text.clone(),
                sentence: sentence.to_string(),
                golds: golds.clone(),
                answer,
            })
        };
        push(&text[r.clone()], Some(off - r.start..off - r.start + gold.len()));
        // The next sentence (else the previous): the usual near miss.
        if let Some(r) = [g + 1, g.wrapping_sub(1)]
            .iter()
            .filter_map(|&n| sents.get(n))
            .find(|r| !holds(&text[(*r).clone()]))
        {
            push(&text[r.clone()], None);
        }
        // A sentence of another paragraph of the same article, chosen by a fixed hash.
        let others: Vec<&str> = by_title[title].iter().copied().filter(|d| *d != q.doc_id).collect();
        if !others.is_empty() {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
            let other = docs[others[h as usize % others.len()]].1;
            let os = split_sentences(other, 0..other.len());
            if !os.is_empty() {
                let r = &os[(h as usize / 7) % os.len()];
                if !holds(&other[r.clone()]) {
                    push(&other[r.clone()], None);
                }
            }
        }
    }
    pairs
}

fn write_states(path: &PathBuf, states: &[PairStates]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
    w.write_all(&(states.len() as u64).to_le_bytes())?;
    for s in states {
        w.write_all(&(s.hidden as u32).to_le_bytes())?;
        w.write_all(&(s.spans.len() as u32).to_le_bytes())?;
        for r in &s.spans {
            w.write_all(&(r.start as u32).to_le_bytes())?;
            w.write_all(&(r.end as u32).to_le_bytes())?;
        }
        for v in s.question.iter().chain(&s.states) {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    w.flush()?;
    drop(w);
    std::fs::rename(tmp, path)
}

fn read_states(path: &PathBuf) -> std::io::Result<Vec<PairStates>> {
    let mut r = BufReader::new(std::fs::File::open(path)?);
    let mut b8 = [0u8; 8];
    let mut b4 = [0u8; 4];
    r.read_exact(&mut b8)?;
    let n = u64::from_le_bytes(b8) as usize;
    let mut u32_ = |r: &mut BufReader<std::fs::File>| -> std::io::Result<u32> {
        r.read_exact(&mut b4)?;
        Ok(u32::from_le_bytes(b4))
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let hidden = u32_(&mut r)? as usize;
        let t = u32_(&mut r)? as usize;
        let mut spans = Vec::with_capacity(t);
        for _ in 0..t {
            let a = u32_(&mut r)? as usize;
            let b = u32_(&mut r)? as usize;
            spans.push(a..b);
        }
        let mut floats = vec![0u8; (hidden + t * hidden) * 4];
        r.read_exact(&mut floats)?;
        let f: Vec<f32> = floats
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push(PairStates {
            hidden,
            question: f[..hidden].to_vec(),
            spans,
            states: f[hidden..].to_vec(),
        });
    }
    Ok(out)
}

/// One pair ready for training: standardised token features and token labels.
struct Example {
    q: usize,
    part: Part,
    x: Vec<f32>,
    n: usize,
    /// (first, last) token of the answer, or none.
    label: Option<(usize, usize)>,
}

fn token_label(spans: &[std::ops::Range<usize>], ans: &std::ops::Range<usize>) -> Option<(usize, usize)> {
    let a = spans.iter().position(|s| s.end > ans.start && s.start < ans.end)?;
    let b = spans.iter().rposition(|s| s.start < ans.end && s.end > ans.start)?;
    (a <= b && b - a < MAX_SPAN_TOKENS).then_some((a, b))
}

struct Head {
    start: Vec<f32>,
    end: Vec<f32>,
    none: Vec<f32>,
    bias: f32,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn softmax_in_place(v: &mut [f32]) {
    let m = v.iter().copied().fold(f32::MIN, f32::max);
    let mut s = 0.0;
    for x in v.iter_mut() {
        *x = (*x - m).exp();
        s += *x;
    }
    v.iter_mut().for_each(|x| *x /= s);
}

/// Negative log-likelihood of one example and its gradient (start, end, none, bias).
fn grad(h: &Head, e: &Example, d: usize) -> (f32, Vec<f32>, Vec<f32>, Vec<f32>, f32) {
    let n = e.n;
    let mut mean = vec![0f32; d];
    for t in 0..n {
        mean.iter_mut().zip(&e.x[t * d..(t + 1) * d]).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n as f32);
    let none = dot(&mean, &h.none) + h.bias;
    let mut ps: Vec<f32> = std::iter::once(none)
        .chain((0..n).map(|t| dot(&e.x[t * d..(t + 1) * d], &h.start)))
        .collect();
    let mut pe: Vec<f32> = std::iter::once(none)
        .chain((0..n).map(|t| dot(&e.x[t * d..(t + 1) * d], &h.end)))
        .collect();
    softmax_in_place(&mut ps);
    softmax_in_place(&mut pe);
    let (ya, yb) = e.label.map_or((0, 0), |(a, b)| (a + 1, b + 1));
    let loss = -(ps[ya].max(1e-12).ln() + pe[yb].max(1e-12).ln());
    ps[ya] -= 1.0;
    pe[yb] -= 1.0;
    let mut gs = vec![0f32; d];
    let mut ge = vec![0f32; d];
    for t in 0..n {
        let x = &e.x[t * d..(t + 1) * d];
        let (a, b) = (ps[t + 1], pe[t + 1]);
        for k in 0..d {
            gs[k] += a * x[k];
            ge[k] += b * x[k];
        }
    }
    let gn_scale = ps[0] + pe[0];
    let gn: Vec<f32> = mean.iter().map(|m| m * gn_scale).collect();
    (loss, gs, ge, gn, gn_scale)
}

struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn step(&mut self, w: &mut [f32], g: &[f32], lr: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for k in 0..w.len() {
            self.m[k] = b1 * self.m[k] + (1.0 - b1) * g[k];
            self.v[k] = b2 * self.v[k] + (1.0 - b2) * g[k] * g[k];
            w[k] -= lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + 1e-8);
        }
    }
}

/// Mean span F1 on the selection questions of the best-margin sentence among each question's
/// pairs, and the share of questions where that sentence is the gold one.
fn select_score(
    h: &Head,
    ex: &[Example],
    pairs: &[Pair],
    states: &[PairStates],
    d: usize,
    raw: &ReaderFile,
) -> (f64, f64, f64) {
    let mut file = raw.clone();
    file.start = h.start.clone();
    file.end = h.end.clone();
    file.none = h.none.clone();
    file.none_bias = h.bias;
    // Features are already standardised: an identity standardisation reads them as they are.
    file.mean = vec![0.0; d];
    file.scale = vec![1.0; d];
    let reader = Reader::from_file(file).expect("a valid head");
    let mut best: HashMap<usize, (f32, usize)> = HashMap::new();
    let mut span_f1 = (0.0, 0usize);
    for (i, e) in ex.iter().enumerate() {
        if e.part != Part::Select {
            continue;
        }
        let (s, en, none) = logits_std(&reader, e, d);
        let (a, b, top) = reader::best_span(&s, &en, MAX_SPAN_TOKENS);
        let margin = top - 2.0 * none;
        let entry = best.entry(e.q).or_insert((f32::MIN, i));
        if margin > entry.0 {
            *entry = (margin, i);
        }
        if e.label.is_some() {
            let st = &states[i];
            let text = reader::tidy_span(&pairs[i].sentence, st.spans[a].start..st.spans[b].end)
                .map(|r| pairs[i].sentence[r].to_string())
                .unwrap_or_default();
            span_f1.0 += squad_f1_em(&text, &pairs[i].golds).0;
            span_f1.1 += 1;
        }
    }
    let (mut f1, mut pick) = (0.0, 0usize);
    for &(_, i) in best.values() {
        if ex[i].label.is_some() {
            pick += 1;
            let st = &states[i];
            let (s, en, _) = logits_std(&reader, &ex[i], d);
            let (a, b, _) = reader::best_span(&s, &en, MAX_SPAN_TOKENS);
            let text = reader::tidy_span(&pairs[i].sentence, st.spans[a].start..st.spans[b].end)
                .map(|r| pairs[i].sentence[r].to_string())
                .unwrap_or_default();
            f1 += squad_f1_em(&text, &pairs[i].golds).0;
        }
    }
    let nq = best.len().max(1) as f64;
    (f1 / nq, pick as f64 / nq, span_f1.0 / span_f1.1.max(1) as f64)
}

fn logits_std(r: &Reader, e: &Example, d: usize) -> (Vec<f32>, Vec<f32>, f32) {
    let f = r.file();
    let mut mean = vec![0f32; d];
    let (mut s, mut en) = (Vec::with_capacity(e.n), Vec::with_capacity(e.n));
    for t in 0..e.n {
        let x = &e.x[t * d..(t + 1) * d];
        s.push(dot(x, &f.start));
        en.push(dot(x, &f.end));
        mean.iter_mut().zip(x).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= e.n.max(1) as f32);
    (s, en, dot(&mean, &f.none) + f.none_bias)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let (Some(squad), Some(out)) = (positional.first(), positional.get(1)) else {
        eprintln!(
            "usage: train_answer_reader SQUAD.json OUT.json [--lang fr] [--states CACHE] [--precision f32|int8] [--below N] [--all]"
        );
        std::process::exit(2);
    };
    let lang = opt("--lang").unwrap_or_else(|| "fr".into());
    // `--below N`: only the questions numbered below N (reading is the cost).
    let below: usize = opt("--below").map(|s| s.parse()).transpose()?.unwrap_or(usize::MAX);
    let pairs = build_pairs(squad, &lang, args.iter().any(|a| a == "--all"), below);
    eprintln!(
        "{} pairs ({} with the answer) from {squad}",
        pairs.len(),
        pairs.iter().filter(|p| p.answer.is_some()).count()
    );

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Paths::from_env();
    if std::env::var_os("SOURCIER_MODELS").is_none() {
        paths.models_dir = root.join("models");
    }
    let dir = models::ensure(&paths, models::DEFAULT_EMBEDDER, &NoProgress)?;
    let m = models::manifest(models::DEFAULT_EMBEDDER)?;
    let mut spec = ModelSpec::from_manifest(&m, dir, None)?;
    if let Some(p) = opt("--precision") {
        spec.precision = p.parse()?;
    }
    let emb = GemmaEmbedder::load(&spec)?;
    let space = emb.state_space().expect("EmbeddingGemma has states");

    let cache = opt("--states").map(PathBuf::from);
    // The cache does not record the precision it was read in; say where the states came from.
    let read_in = match cache.as_ref().filter(|p| p.is_file()) {
        Some(p) => format!("read from the cache {}", p.display()),
        None => format!("read in {}", spec.precision),
    };
    let states = match cache.as_ref().filter(|p| p.is_file()) {
        Some(p) => {
            let s = read_states(p)?;
            assert_eq!(
                s.len(),
                pairs.len(),
                "{} was written for other pairs: delete it",
                p.display()
            );
            s
        }
        None => {
            let t = Instant::now();
            let mut all = Vec::with_capacity(pairs.len());
            let mut i = 0;
            let mut calls = 0usize;
            while i < pairs.len() {
                // One question's pairs per call, as the answerer reads them.
                let j = (i..pairs.len())
                    .find(|&j| pairs[j].q != pairs[i].q)
                    .unwrap_or(pairs.len());
                let sents: Vec<&str> = pairs[i..j].iter().map(|p| p.sentence.as_str()).collect();
                all.extend(emb.read_pairs(&pairs[i].question, &sents)?.expect("states"));
                i = j;
                calls += 1;
                if calls.is_multiple_of(100) {
                    eprintln!(
                        "read {}/{} pairs in {:.0} s",
                        all.len(),
                        pairs.len(),
                        t.elapsed().as_secs_f64()
                    );
                }
            }
            if let Some(p) = &cache {
                write_states(p, &all)?;
            }
            all
        }
    };
    let hidden = states[0].hidden;
    let d = feature_dims(hidden);

    // Raw features, then standardisation fitted on the training tokens.
    let mut ex: Vec<Example> = pairs
        .par_iter()
        .zip(&states)
        .map(|(p, s)| {
            let q = sourcier::answer::question_words(&p.question);
            Example {
                q: p.q,
                part: p.part,
                x: reader::token_features(&q, &p.sentence, s),
                n: s.spans.len(),
                label: p.answer.as_ref().and_then(|a| token_label(&s.spans, a)),
            }
        })
        .collect();
    // A pair that holds the answer but whose tokens cannot be labelled teaches nothing true.
    let keep: Vec<bool> = pairs
        .iter()
        .zip(&ex)
        .map(|(p, e)| e.n > 0 && (p.answer.is_none() || e.label.is_some()))
        .collect();
    let mut kept = keep.iter();
    ex.retain(|_| *kept.next().expect("one flag per example"));
    let mut kept = keep.iter();
    let pairs: Vec<Pair> = pairs.into_iter().filter(|_| *kept.next().expect("flag")).collect();
    let mut kept = keep.iter();
    let states: Vec<PairStates> = states.into_iter().filter(|_| *kept.next().expect("flag")).collect();

    let (mut mean, mut sq, mut count) = (vec![0f64; d], vec![0f64; d], 0f64);
    for e in ex.iter().filter(|e| e.part == Part::Train) {
        for t in 0..e.n {
            for (k, v) in e.x[t * d..(t + 1) * d].iter().enumerate() {
                mean[k] += *v as f64;
                sq[k] += (*v as f64) * (*v as f64);
            }
        }
        count += e.n as f64;
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / count) as f32).collect();
    let scale: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / count - (*m as f64).powi(2)).max(0.0).sqrt() as f32).max(1e-3))
        .collect();
    ex.par_iter_mut().for_each(|e| {
        for t in 0..e.n {
            for k in 0..d {
                let v = &mut e.x[t * d + k];
                *v = (*v - mean[k]) / scale[k];
            }
        }
    });
    let train: Vec<&Example> = ex.iter().filter(|e| e.part == Part::Train).collect();
    eprintln!(
        "{} training pairs ({} with the answer), {} selection pairs, {d} features",
        train.len(),
        train.iter().filter(|e| e.label.is_some()).count(),
        ex.len() - train.len()
    );
    let template = ReaderFile {
        format: READER_FORMAT,
        state_space: space.clone(),
        hidden,
        mean: mean.clone(),
        scale: scale.clone(),
        start: vec![0.0; d],
        end: vec![0.0; d],
        none: vec![0.0; d],
        none_bias: 0.0,
        trained_on: String::new(),
    };

    let epochs: usize = opt("--epochs").map(|s| s.parse()).transpose()?.unwrap_or(12);
    let l2s: Vec<f32> = opt("--l2")
        .map(|s| s.split(',').map(|v| v.parse().expect("an L2 value")).collect())
        .unwrap_or_else(|| vec![1e-4, 1e-3, 1e-2]);
    let lr: f32 = opt("--lr").map(|s| s.parse()).transpose()?.unwrap_or(1e-3);
    let batch = 32;
    // (selection score, L2, passes, head, selection figures)
    type Best = (f64, f32, usize, Head, (f64, f64, f64));
    let mut best: Option<Best> = None;
    for &l2 in &l2s {
        let mut h = Head {
            start: vec![0.0; d],
            end: vec![0.0; d],
            none: vec![0.0; d],
            bias: 0.0,
        };
        let new_adam = || Adam {
            m: vec![0.0; d],
            v: vec![0.0; d],
            t: 0,
        };
        let (mut as_, mut ae, mut an) = (new_adam(), new_adam(), new_adam());
        let mut ab = Adam {
            m: vec![0.0],
            v: vec![0.0],
            t: 0,
        };
        let mut order: Vec<usize> = (0..train.len()).collect();
        for epoch in 1..=epochs {
            // A fixed shuffle per epoch.
            let mut s = epoch as u64 * 0x2545_F491_4F6C_DD1D;
            for i in (1..order.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                order.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut loss = 0.0;
            for chunk in order.chunks(batch) {
                let parts: Vec<_> = chunk.par_iter().map(|&i| grad(&h, train[i], d)).collect();
                let (mut gs, mut ge, mut gn, mut gb) = (vec![0f32; d], vec![0f32; d], vec![0f32; d], 0f32);
                for (l, a, b, c, bb) in parts {
                    loss += l as f64;
                    gs.iter_mut().zip(&a).for_each(|(x, y)| *x += y);
                    ge.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    gn.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
                    gb += bb;
                }
                let nb = chunk.len() as f32;
                for (g, w) in [(&mut gs, &h.start), (&mut ge, &h.end), (&mut gn, &h.none)] {
                    g.iter_mut().zip(w.iter()).for_each(|(g, w)| *g = *g / nb + l2 * w);
                }
                as_.step(&mut h.start, &gs, lr);
                ae.step(&mut h.end, &ge, lr);
                an.step(&mut h.none, &gn, lr);
                let mut b = [h.bias];
                ab.step(&mut b, &[gb / nb], lr);
                h.bias = b[0];
            }
            let sc = select_score(&h, &ex, &pairs, &states, d, &template);
            eprintln!(
                "l2 {l2:e} epoch {epoch}: train loss {:.3}; selection: best-sentence span F1 {:.3}, picks the gold sentence {:.3}, span F1 on the gold sentence {:.3}",
                loss / train.len() as f64,
                sc.0,
                sc.1,
                sc.2
            );
            if best.as_ref().is_none_or(|b| sc.0 > b.0) {
                best = Some((
                    sc.0,
                    l2,
                    epoch,
                    Head {
                        start: h.start.clone(),
                        end: h.end.clone(),
                        none: h.none.clone(),
                        bias: h.bias,
                    },
                    sc,
                ));
            }
        }
    }
    let (_, l2, epoch, h, sc) = best.expect("at least one configuration");
    let file = ReaderFile {
        start: h.start,
        end: h.end,
        none: h.none,
        none_bias: h.bias,
        trained_on: format!(
            "{} pairs of the even-numbered questions of {} (states {}); chosen on the questions numbered 1 mod 8: L2 {l2:e}, {epoch} passes, lr {lr:e}, best-sentence span F1 {:.3}, gold sentence picked {:.3}, span F1 on the gold sentence {:.3}",
            train.len(),
            std::path::Path::new(squad.as_str())
                .file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default(),
            read_in,
            sc.0,
            sc.1,
            sc.2
        ),
        ..template
    };
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, serde_json::to_string(&file)? + "\n")?;
    std::fs::rename(&tmp, out.as_str())?;
    eprintln!("wrote {out}: {}", file.trained_on);
    Ok(())
}

//! Retrains the span picker (`src/answer/span_picker.json`) from a SQuAD file, with an honest
//! split: fit on the even-numbered questions, choose the regularisation, the number of passes
//! and the confidence threshold on those numbered 1 mod 4, and report on those numbered 3 mod 4,
//! which nothing was chosen on.
//!
//! ```sh
//! cargo run --release --example train_span_picker -- ../shared/eval/piaf/piaf-v1.0.json \
//!     src/answer/span_picker.json --lang fr
//! ```
//!
//! Each question gives one sentence: the sentence of its paragraph that holds the gold answer.
//! Its candidate spans are labelled by SQuAD F1 against the gold answers; the best-scoring
//! candidates are the target of a softmax over the sentence's candidates. Figures are span F1
//! and exact match *on the gold sentence*: the part of the answer this picker owns. The
//! end-to-end figure (with the sentence the answerer chose) comes from `sourcier eval --answers`.

use std::collections::{BTreeMap, HashMap};

use sourcier::answer::span_picker::{PICKER_FORMAT, PickerFile, QuestionCues, SpanPicker, candidates};
use sourcier::answer::{AnswerType, expected_type, fact_span_for_question};
use sourcier::chunk::split_sentences;
use sourcier::eval::input::read_squad;
use sourcier::eval::metrics::squad_f1_em;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    Train,
    Select,
    Report,
}

struct Example {
    part: Part,
    kind: AnswerType,
    sentence: String,
    golds: Vec<String>,
    /// Candidate byte ranges, their feature indices, and their F1 against the gold answers.
    cands: Vec<(std::ops::Range<usize>, Vec<u32>, f64)>,
    /// What the hand-written type rules mark (None: the whole sentence is the guess).
    rule: Option<std::ops::Range<usize>>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: train_span_picker <squad.json> <out.json> [--lang fr] [--l2 X,Y] [--epochs N]");
        std::process::exit(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let lang = flag("--lang").unwrap_or_else(|| "fr".into());
    let l2s: Vec<f32> = flag("--l2")
        .unwrap_or_else(|| "1e-5,1e-4,1e-3".into())
        .split(',')
        .map(|s| s.parse().expect("--l2 takes numbers"))
        .collect();
    let epochs: usize = flag("--epochs").map(|s| s.parse().expect("--epochs")).unwrap_or(12);

    let set = read_squad(input, None, &lang).unwrap_or_else(|e| panic!("reading {input}: {e}"));
    let docs: HashMap<&str, &str> = set.docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut examples = Vec::new();
    let mut skipped = 0;
    // Feature names are indexed from the training questions only: a feature never seen in
    // training has no weight, as at run time.
    let mut order: Vec<usize> = (0..set.queries.len()).collect();
    order.sort_by_key(|i| i % 2);
    for i in order {
        let q = &set.queries[i];
        let part = match i % 4 {
            0 | 2 => Part::Train,
            1 => Part::Select,
            _ => Part::Report,
        };
        let (Some(text), Some((gold, off))) = (docs.get(q.doc_id.as_str()), q.answers.first()) else {
            skipped += 1;
            continue;
        };
        let sents = split_sentences(text, 0..text.len());
        let Some(r) = sents.iter().find(|r| r.start <= *off && off + gold.len() <= r.end) else {
            skipped += 1;
            continue;
        };
        let sentence = text[r.clone()].to_string();
        let golds: Vec<String> = q.answers.iter().map(|a| a.0.clone()).collect();
        let cues = QuestionCues::new(&q.text);
        let mut cands = Vec::new();
        for c in candidates(&sentence, &cues) {
            let f1 = squad_f1_em(&sentence[c.range.clone()], &golds).0;
            let ids = c
                .features
                .iter()
                .filter_map(|f| match index.get(f) {
                    Some(&k) => Some(k),
                    None if part == Part::Train => {
                        index.insert(f.clone(), names.len() as u32);
                        names.push(f.clone());
                        Some(names.len() as u32 - 1)
                    }
                    None => None,
                })
                .collect();
            cands.push((c.range, ids, f1));
        }
        if cands.is_empty() {
            skipped += 1;
            continue;
        }
        examples.push(Example {
            part,
            kind: expected_type(&q.text),
            rule: fact_span_for_question(&sentence, &q.text),
            sentence,
            golds,
            cands,
        });
    }
    // Features of fewer than three training questions (mostly single words around a span)
    // are dropped: they cannot be weighed, and they would bloat the shipped file.
    let mut seen = vec![0u32; names.len()];
    for e in examples.iter().filter(|e| e.part == Part::Train) {
        let mut ids: Vec<u32> = e.cands.iter().flat_map(|c| c.1.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        for k in ids {
            seen[k as usize] += 1;
        }
    }
    for e in &mut examples {
        for c in &mut e.cands {
            c.1.retain(|&k| seen[k as usize] >= 3);
        }
    }
    let kept = seen.iter().filter(|&&n| n >= 3).count();
    eprintln!(
        "{kept} of {} features occur in three training questions or more",
        names.len()
    );
    let count = |p: Part| examples.iter().filter(|e| e.part == p).count();
    eprintln!(
        "{} questions: train {}, select {}, report {}; {skipped} skipped (no gold sentence); {} features",
        examples.len(),
        count(Part::Train),
        count(Part::Select),
        count(Part::Report),
        names.len()
    );

    let mut best: Option<(f64, f32, usize, Vec<f32>)> = None;
    for &l2 in &l2s {
        let mut w = vec![0f32; names.len()];
        let mut g2 = vec![1e-8f32; names.len()];
        for epoch in 1..=epochs {
            let loss = train_epoch(&examples, &mut w, &mut g2, l2, 0.1);
            let (f1, em) = figures(&examples, Part::Select, &|e| argmax(e, &w).0);
            eprintln!("l2 {l2:e} pass {epoch:2}: train loss {loss:.4}, select span F1 {f1:.4} EM {em:.4}");
            if best.as_ref().is_none_or(|b| f1 > b.0) {
                best = Some((f1, l2, epoch, w.clone()));
            }
        }
    }
    let (sel_f1, l2, epoch, w) = best.expect("at least one run");
    eprintln!("chosen: l2 {l2:e}, pass {epoch} (select span F1 {sel_f1:.4})");

    // The confidence threshold, chosen on the selection questions: below it no span is marked
    // and the whole sentence stands, as the eval scores it.
    let whole = |e: &Example| 0..e.sentence.len();
    let mut thresholds: Vec<(f32, f64)> = Vec::new();
    for t in [0.0f32, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5] {
        let (f1, _) = figures(&examples, Part::Select, &|e| {
            let (r, p) = argmax(e, &w);
            if p >= t { r } else { whole(e) }
        });
        thresholds.push((t, f1));
    }
    let &(min_p, _) = thresholds
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("thresholds");
    eprintln!("threshold sweep (select): {thresholds:?} → {min_p}");

    // Per answer type, the type rules or the picker, whichever did better on the selection
    // questions (by at least 0.01 for the picker).
    let thresholded = |e: &Example| {
        let (r, p) = argmax(e, &w);
        if p >= min_p { r } else { whole(e) }
    };
    let mut rules_for = Vec::new();
    for kind in [
        AnswerType::Number,
        AnswerType::Person,
        AnswerType::Date,
        AnswerType::Place,
        AnswerType::Cause,
        AnswerType::Other,
    ] {
        let of = |pick: &dyn Fn(&Example) -> std::ops::Range<usize>| {
            let sel: Vec<&Example> = examples
                .iter()
                .filter(|e| e.part == Part::Select && e.kind == kind)
                .collect();
            sel.iter()
                .map(|e| squad_f1_em(e.sentence.get(pick(e)).unwrap_or(""), &e.golds).0)
                .sum::<f64>()
                / sel.len().max(1) as f64
        };
        let rule = of(&|e: &Example| e.rule.clone().unwrap_or_else(|| whole(e)));
        let picker = of(&thresholded);
        eprintln!("select, {kind:?}: rules {rule:.3}, picker {picker:.3}");
        // The rules are plain and their spans complete ("25 consultants", not "25"): the
        // picker replaces them only when it is clearly better.
        if picker < rule + 0.01 {
            rules_for.push(kind);
        }
    }
    let rules_for_ = rules_for.clone();
    let shipped = move |e: &Example| {
        if rules_for_.contains(&e.kind) {
            e.rule.clone().unwrap_or_else(|| whole(e))
        } else {
            thresholded(e)
        }
    };

    // Report: the questions numbered 3 mod 4, seen by nothing above.
    let policies: Vec<(&str, Policy)> = vec![
        ("whole sentence", Box::new(whole)),
        (
            "type rules, else whole sentence (before)",
            Box::new(move |e: &Example| e.rule.clone().unwrap_or_else(|| whole(e))),
        ),
        ("picker, no threshold", Box::new(|e: &Example| argmax(e, &w).0)),
        ("picker above the threshold, else whole sentence", Box::new(thresholded)),
        (
            "per type: rules or thresholded picker, as chosen (shipped)",
            Box::new(shipped.clone()),
        ),
        (
            "type rules, else picker",
            Box::new(|e: &Example| e.rule.clone().unwrap_or_else(|| argmax(e, &w).0)),
        ),
        (
            "oracle (best candidate)",
            Box::new(|e: &Example| {
                e.cands
                    .iter()
                    .max_by(|a, b| a.2.total_cmp(&b.2))
                    .map(|c| c.0.clone())
                    .unwrap_or(0..0)
            }),
        ),
    ];
    println!("| span on the gold sentence (PIAF, questions 3 mod 4) | span F1 | span EM |");
    println!("|---|---|---|");
    for (name, p) in &policies {
        let (f1, em) = figures(&examples, Part::Report, p.as_ref());
        println!("| {name} | {f1:.3} | {em:.3} |");
    }
    let mut per_type: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for e in examples.iter().filter(|e| e.part == Part::Report) {
        let r = shipped(e);
        let before = e.rule.clone().unwrap_or_else(|| whole(e));
        let entry = per_type.entry(format!("{:?}", e.kind)).or_default();
        entry.0 += 1;
        entry.1 += squad_f1_em(&e.sentence[before], &e.golds).0;
        entry.2 += squad_f1_em(&e.sentence[r], &e.golds).0;
    }
    println!("\n| answer type (report) | questions | span F1 before | span F1 picker |");
    println!("|---|---|---|---|");
    for (k, (n, a, b)) in per_type {
        println!("| {k} | {n} | {:.3} | {:.3} |", a / n as f64, b / n as f64);
    }

    let weights: HashMap<String, f32> = names
        .iter()
        .zip(&w)
        .filter(|(_, v)| v.abs() >= 1e-4)
        .map(|(n, v)| (n.clone(), (v * 1e4).round() / 1e4))
        .collect();
    let file = PickerFile {
        format: PICKER_FORMAT,
        weights,
        min_probability: min_p,
        rules_for,
        trained_on: format!(
            "{input} ({lang}): fit on the {} even-numbered questions' gold sentences, L2 {l2:e} and {epoch} passes \
             and the threshold chosen on the {} numbered 1 mod 4 (span F1 {sel_f1:.3}); examples/train_span_picker.rs",
            count(Part::Train),
            count(Part::Select)
        ),
    };
    // Round-trips through the library's reader before it is written.
    SpanPicker::from_file(file.clone()).expect("the written picker reads back");
    let json = serde_json::to_string_pretty(&file).expect("serialising the picker");
    std::fs::write(output, json + "\n").unwrap_or_else(|e| panic!("writing {output}: {e}"));
    eprintln!("wrote {output}");
}

/// Which span of the gold sentence a way of marking chooses.
type Policy<'a> = Box<dyn Fn(&Example) -> std::ops::Range<usize> + 'a>;

fn score(ids: &[u32], w: &[f32]) -> f32 {
    ids.iter().map(|&k| w[k as usize]).sum()
}

/// The picker's best span and its softmax probability.
fn argmax(e: &Example, w: &[f32]) -> (std::ops::Range<usize>, f32) {
    let s: Vec<f32> = e.cands.iter().map(|c| score(&c.1, w)).collect();
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = s.iter().map(|x| (x - max).exp()).sum();
    let k = s
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k)
        .unwrap_or(0);
    (e.cands[k].0.clone(), 1.0 / z)
}

/// One pass of AdaGrad over the training questions; returns the mean loss.
fn train_epoch(examples: &[Example], w: &mut [f32], g2: &mut [f32], l2: f32, lr: f32) -> f64 {
    let mut loss = 0.0;
    let mut n = 0;
    let mut grad: HashMap<u32, f32> = HashMap::new();
    for e in examples.iter().filter(|e| e.part == Part::Train) {
        let top = e.cands.iter().map(|c| c.2).fold(0.0, f64::max);
        if top <= 0.0 {
            continue; // no candidate overlaps the gold answer: nothing to learn from
        }
        let s: Vec<f32> = e.cands.iter().map(|c| score(&c.1, w)).collect();
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let p: Vec<f32> = s.iter().map(|x| (x - max).exp()).collect();
        let z: f32 = p.iter().sum();
        let target: Vec<bool> = e.cands.iter().map(|c| c.2 >= top - 1e-9).collect();
        let zt: f32 = p.iter().zip(&target).filter(|(_, t)| **t).map(|(x, _)| x).sum();
        loss += f64::from((z / zt).ln());
        n += 1;
        // d(-log Σ_target p)/ds_c = p_c/z - [c ∈ target] p_c/zt
        grad.clear();
        for (c, (&pc, &t)) in e.cands.iter().zip(p.iter().zip(&target)) {
            let g = pc / z - if t { pc / zt } else { 0.0 };
            if g.abs() < 1e-7 {
                continue;
            }
            for &k in &c.1 {
                *grad.entry(k).or_default() += g;
            }
        }
        for (&k, &g) in &grad {
            let k = k as usize;
            let g = g + l2 * w[k];
            g2[k] += g * g;
            w[k] -= lr * g / g2[k].sqrt();
        }
    }
    loss / n.max(1) as f64
}

/// Mean span F1 and exact match over one part, for the span a policy marks.
fn figures(examples: &[Example], part: Part, pick: &dyn Fn(&Example) -> std::ops::Range<usize>) -> (f64, f64) {
    let (mut f1, mut em, mut n) = (0.0, 0.0, 0);
    for e in examples.iter().filter(|e| e.part == part) {
        let r = pick(e);
        let (f, m) = squad_f1_em(e.sentence.get(r).unwrap_or(""), &e.golds);
        f1 += f;
        em += f64::from(u8::from(m));
        n += 1;
    }
    (f1 / n.max(1) as f64, em / n.max(1) as f64)
}

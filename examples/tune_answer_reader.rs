//! Chooses how the answer reader weighs in (`AnswerOptions::reader_weight`, `margin`,
//! `min_answerability`, `min_span_margin`) from what `sourcier eval` writes, with an honest
//! split: choose on the odd-numbered questions numbered 1 mod 4 (where the reader itself was
//! selected), report on those numbered 3 mod 4, which nothing was tuned on.
//!
//! ```sh
//! sourcier eval ../shared/eval/piaf/piaf-v1.0.json --modes hybrid --answers --split odd \
//!     --corpus-index /tmp/piaf --dump-answer-features /tmp/piaf-reader.jsonl
//! sourcier eval ../shared/eval/piaf/piaf-v1.0.json --modes hybrid --answers --split odd \
//!     --drop-gold 0.1 --corpus-index /tmp/piafdrop --json /tmp/piafdrop.json
//! cargo run --release --example tune_answer_reader -- /tmp/piaf-reader.jsonl /tmp/piafdrop.json
//! ```

use std::collections::BTreeMap;

use sourcier::answer::scorer::Scorer;

struct Row {
    label: bool,
    score: f32,
    margin: f32,
    /// Span F1 of the reader's span, and of the span picker's (or the whole sentence).
    sf1: f64,
    pf1: f64,
}

/// Answer hit, first-sentence hit and span F1 (of the first sentence's reader span when its
/// margin reaches `span_at`, else the picker's) over the questions of `part`, with the reader
/// weighted by `beta` and further sentences kept within `keep` of the best.
fn judge(by_q: &BTreeMap<usize, Vec<Row>>, part: usize, beta: f32, keep: f32, span_at: f32) -> (f64, f64, f64, usize) {
    let (mut hit, mut first, mut f1, mut n) = (0usize, 0usize, 0f64, 0usize);
    for rows in by_q.iter().filter(|(q, _)| *q % 4 == part).map(|(_, r)| r) {
        let mut c: Vec<(f32, &Row)> = rows.iter().map(|r| (r.score + beta * r.margin.max(-20.0), r)).collect();
        c.sort_by(|a, b| b.0.total_cmp(&a.0));
        let best = c[0].0;
        n += 1;
        hit += usize::from(c.iter().take(3).take_while(|x| x.0 >= best - keep).any(|x| x.1.label));
        first += usize::from(c[0].1.label);
        f1 += if c[0].1.margin >= span_at {
            c[0].1.sf1
        } else {
            c[0].1.pf1
        };
    }
    let d = n.max(1) as f64;
    (hit as f64 / d, first as f64 / d, f1 / d, n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dump) = args.get(1) else {
        eprintln!("usage: tune_answer_reader DUMP.jsonl [DROP-GOLD-REPORT.json] [--read N]");
        std::process::exit(2);
    };
    let scorer = Scorer::bundled();
    let text = std::fs::read_to_string(dump).unwrap_or_else(|e| panic!("reading {dump}: {e}"));
    let mut by_q: BTreeMap<usize, Vec<Row>> = BTreeMap::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
        let f: Vec<f32> = serde_json::from_value(v["f"].clone()).expect("features");
        let f: [f32; sourcier::answer::FEATURES] = f.try_into().expect("this build's features");
        let Some(margin) = v["m"].as_f64() else { continue };
        by_q.entry(v["q"].as_u64().expect("q") as usize).or_default().push(Row {
            label: v["label"].as_bool().expect("label"),
            score: scorer.score(&f),
            margin: margin as f32,
            sf1: v["sf1"].as_f64().unwrap_or(0.0),
            pf1: v["pf1"].as_f64().unwrap_or(0.0),
        });
    }
    // `--read N`: as if only the N best-scored candidates were read (fewer pairs, less time).
    // `--read-more T M`: as if, when no sentence of those N (3 by default) reaches margin T,
    // the reader went on to the M best-scored (time spent only on the doubtful questions).
    let arg = |name: &str, k: usize| {
        args.iter().position(|a| a == name).map(|i| {
            args.get(i + k)
                .unwrap_or_else(|| panic!("{name} takes a value"))
                .as_str()
        })
    };
    let read: Option<usize> = arg("--read", 1).map(|n| n.parse().expect("--read N"));
    let read_more: Option<(f32, usize)> = arg("--read-more", 1).map(|t| {
        let m = arg("--read-more", 2).expect("--read-more T M");
        (t.parse().expect("--read-more T M"), m.parse().expect("--read-more T M"))
    });
    if read.is_some() || read_more.is_some() {
        let first = read.unwrap_or(3);
        let mut more = 0usize;
        for rows in by_q.values_mut() {
            rows.sort_by(|a, b| b.score.total_cmp(&a.score));
            let keep = match read_more {
                Some((t, m)) if !rows.iter().take(first).any(|r| r.margin >= t) => {
                    more += 1;
                    m
                }
                _ => first,
            };
            rows.truncate(keep);
        }
        if let Some((t, m)) = read_more {
            println!(
                "read on to {m} for {more} of {} questions (no margin ≥ {t} among the first {first})",
                by_q.len()
            );
        }
    }
    println!("| reader weight | keep within | answer hit | first sentence | span F1 (first) | questions |");
    println!("|---|---|---|---|---|---|");
    let mut best = (0.0, 0.0, 0.0);
    for beta in [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0] {
        for keep in [0.0, 0.5, 1.0, 1.5, 2.0, 3.0] {
            let (hit, first, f1, n) = judge(&by_q, 1, beta, keep, f32::MIN);
            println!("| {beta} | {keep} | {hit:.3} | {first:.3} | {f1:.3} | {n} (1 mod 4) |");
            // Answer hit first, then the first sentence.
            if hit + 0.5 * first > best.0 {
                best = (hit + 0.5 * first, beta, keep);
            }
        }
    }
    let (_, beta, keep) = best;
    println!("| reader span from margin | span F1 (first sentence) | (1 mod 4) |");
    println!("|---|---|---|");
    let mut span_at = (f64::MIN, f32::MAX);
    for k in -20..=24 {
        let at = k as f32 * 0.5;
        let (_, _, f1, _) = judge(&by_q, 1, beta, keep, at);
        println!("| {at} | {f1:.3} | |");
        if f1 > span_at.0 {
            span_at = (f1, at);
        }
    }
    let (_, _, picker_f1, _) = judge(&by_q, 3, beta, keep, f32::MAX);
    let (hit, first, f1, n) = judge(&by_q, 3, beta, keep, span_at.1);
    println!(
        "chosen on 1 mod 4: weight {beta}, keep within {keep}, reader span from margin {}; on 3 mod 4: answer hit {hit:.3}, first sentence {first:.3}, span F1 {f1:.3} (picker only {picker_f1:.3}) ({n} questions)",
        span_at.1
    );

    let Some(report) = args.get(2).filter(|a| !a.starts_with("--")) else {
        return;
    };
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap_or_else(|e| panic!("reading {report}: {e}")))
            .expect("an eval report");
    // (answerable, answerability) per question, by part.
    let mut pts: Vec<(usize, bool, f32)> = Vec::new();
    for q in r["per_query"].as_array().expect("per_query") {
        let a = &q["answer"];
        // An answer that abstained before reading (nothing relevant) abstains at any threshold.
        let m = match a["answerability"].as_f64() {
            Some(m) => m,
            None if a["abstained"].as_bool() == Some(true) => f64::MIN,
            None => continue,
        };
        let answerable = a["hit"].is_boolean();
        pts.push((q["index"].as_u64().expect("index") as usize, answerable, m as f32));
    }
    let sweep = |part: usize, tau: f32| {
        let (mut tp, mut fp, mut unans, mut ans) = (0, 0, 0, 0);
        for &(_, answerable, m) in pts.iter().filter(|p| p.0 % 4 == part) {
            let abstain = m < tau;
            if answerable {
                ans += 1;
                fp += usize::from(abstain);
            } else {
                unans += 1;
                tp += usize::from(abstain);
            }
        }
        let recall = tp as f64 / unans.max(1) as f64;
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let false_rate = fp as f64 / ans.max(1) as f64;
        (recall, precision, false_rate, unans, ans)
    };
    println!("| abstain below | recall | precision | false abstentions | (1 mod 4) |");
    println!("|---|---|---|---|---|");
    let mut chosen = f32::MIN;
    let mut chosen_recall = -1.0;
    for k in -40..=40 {
        let tau = k as f32 * 0.5;
        let (rec, prec, fr, u, a) = sweep(1, tau);
        println!("| {tau} | {rec:.3} | {prec:.3} | {fr:.3} | {u} unanswerable, {a} answerable |");
        // The most recall whose false abstentions stay within 2 %.
        if fr <= 0.02 && rec > chosen_recall {
            chosen = tau;
            chosen_recall = rec;
        }
    }
    let (rec, prec, fr, u, a) = sweep(3, chosen);
    println!(
        "chosen on 1 mod 4: abstain below {chosen}; on 3 mod 4: recall {rec:.3}, precision {prec:.3}, false abstentions {fr:.3} ({u} unanswerable, {a} answerable)"
    );
}

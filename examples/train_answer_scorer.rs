//! Retrains the answer scorer (`src/answer/scorer.json`) from a feature dump, with an honest
//! split: fit on the even-numbered questions, choose the regularisation and the answer policy
//! on those numbered 1 mod 4, and report on those numbered 3 mod 4, which nothing is chosen on.
//!
//! ```sh
//! sourcier eval ../shared/eval/piaf/piaf-v1.0.json --modes hybrid --answers \
//!     --corpus-index /tmp/piaf-index --dump-answer-features /tmp/piaf-features.jsonl
//! cargo run --release --example train_answer_scorer -- /tmp/piaf-features.jsonl src/answer/scorer.json
//! ```
//!
//! A question counts as answered when its chosen sentences hold a gold answer string; the
//! answerer takes the best sentence and up to two more within a score margin; the margin
//! chosen here goes into `AnswerOptions::default`.

use std::collections::BTreeMap;

use sourcier::answer::scorer::Scorer;

const FEATURES: usize = sourcier::answer::FEATURES;

struct Row {
    q: usize,
    gold_read: bool,
    label: bool,
    f: [f32; FEATURES],
}

fn load(path: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let f: Vec<f32> = serde_json::from_value(v["f"].clone()).expect("features");
            Row {
                q: v["q"].as_u64().expect("q") as usize,
                gold_read: v["gold_read"].as_bool().unwrap_or(false),
                label: v["label"].as_bool().expect("label"),
                f: f.try_into().expect("feature count matches this build"),
            }
        })
        .collect()
}

/// Per question of `rows` (odd or even half): (hit with the answer policy, first-sentence hit,
/// gold read). Candidates are ranked by `score`.
fn judge(rows: &[&Row], score: &dyn Fn(&Row) -> f32, margin: f32, max: usize) -> (usize, usize, usize, usize) {
    let mut by_q: BTreeMap<usize, Vec<(f32, &Row)>> = BTreeMap::new();
    for r in rows {
        by_q.entry(r.q).or_default().push((score(r), r));
    }
    let (mut hit, mut first, mut read, mut read_hit) = (0, 0, 0, 0);
    for cands in by_q.values_mut() {
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        let best = cands[0].0;
        let h = cands
            .iter()
            .take(max)
            .take_while(|c| c.0 >= best - margin)
            .any(|c| c.1.label);
        hit += usize::from(h);
        first += usize::from(cands[0].1.label);
        if cands[0].1.gold_read {
            read += 1;
            read_hit += usize::from(h);
        }
    }
    (hit, first, read_hit, read)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: train_answer_scorer FEATURES.jsonl OUT.json");
        std::process::exit(2);
    };
    let rows = load(input);
    let even: Vec<&Row> = rows.iter().filter(|r| r.q % 2 == 0).collect();
    let odd: Vec<&Row> = rows.iter().filter(|r| r.q % 4 == 1).collect();
    let held: Vec<&Row> = rows.iter().filter(|r| r.q % 4 == 3).collect();
    let questions = |rows: &[&Row]| {
        rows.iter()
            .map(|r| r.q)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let n_odd = questions(&odd);
    println!(
        "{} candidate rows; train on {} rows (even questions), select on {} rows ({n_odd} questions numbered 1 mod 4)",
        rows.len(),
        even.len(),
        odd.len()
    );
    let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
    let report = |name: &str, score: &dyn Fn(&Row) -> f32, margin: f32| {
        let (hit, first, read_hit, read) = judge(&odd, score, margin, 3);
        println!(
            "| {name} | {margin:.2} | {:.1} % | {:.1} % | {:.1} % |",
            pct(hit, n_odd),
            pct(first, n_odd),
            pct(read_hit, read)
        );
        hit
    };
    println!("| scorer (questions 1 mod 4) | margin | answer hit | first-sentence hit | reader accuracy |");
    println!("|---|---|---|---|---|");
    report("cosine only", &|r| r.f[0], 0.0);
    report("cosine + 0.3 overlap (before)", &|r| r.f[0] + 0.3 * r.f[2], 0.06);
    let train: Vec<(usize, [f32; FEATURES], bool)> = even.iter().map(|r| (r.q, r.f, r.label)).collect();
    let mut best: Option<(usize, f64, f32, Scorer)> = None;
    for l2 in [1.0, 10.0, 100.0] {
        let s = Scorer::train(&train, l2);
        for margin in [0.0, 0.5, 1.0, 1.5] {
            let hit = report(&format!("conditional logit, L2 {l2}"), &|r| s.score(&r.f), margin);
            if best.as_ref().is_none_or(|b| hit > b.0) {
                best = Some((hit, l2, margin, s.clone()));
            }
        }
    }
    let (hit, l2, margin, s) = best.expect("trained");
    println!(
        "chosen: L2 {l2}, margin {margin:.2}: answer hit {:.1} % on the questions numbered 1 mod 4",
        pct(hit, n_odd)
    );
    let n_held = questions(&held);
    for (name, score) in [
        (
            "cosine + 0.3 overlap",
            &(|r: &Row| r.f[0] + 0.3 * r.f[2]) as &dyn Fn(&Row) -> f32,
        ),
        ("scorer of this build, margin 1.5", &|r: &Row| {
            Scorer::bundled().score(&r.f)
        }),
        ("chosen scorer", &|r: &Row| s.score(&r.f)),
    ] {
        let m = match name {
            "chosen scorer" => margin,
            "cosine + 0.3 overlap" => 0.06,
            _ => 1.5,
        };
        let (hit, first, read_hit, read) = judge(&held, score, m, 3);
        println!(
            "report, questions 3 mod 4 ({n_held}): {name}: answer hit {:.1} %, first sentence {:.1} %, reader accuracy {:.1} %",
            pct(hit, n_held),
            pct(first, n_held),
            pct(read_hit, read)
        );
    }
    let file = s.to_file(format!(
        "conditional logit, L2 {l2}, fit on the even-numbered questions of {input} ({} rows); \
         chosen on those numbered 1 mod 4 (answer hit {:.1} % with margin {margin:.2})",
        even.len(),
        pct(hit, n_odd)
    ));
    let json = serde_json::to_string_pretty(&file).expect("serialises");
    std::fs::write(out, json + "\n").unwrap_or_else(|e| panic!("writing {out}: {e}"));
    println!("wrote {out}");
}

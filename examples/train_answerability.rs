//! Retrains the answerability model (`src/answer/answerability.json`): whether the passages
//! read hold a question's answer at all. Fit on the questions numbered 0 or 2 mod 4 (the even
//! ones), choose the L2 penalty and the abstention threshold on those numbered 1 mod 4, and
//! report on those numbered 3 mod 4, which nothing is chosen on.
//!
//! ```sh
//! sourcier eval ../shared/eval/piaf/piaf-v1.0.json --modes hybrid --answers \
//!     --corpus-index /tmp/piaf-index --dump-answerability /tmp/piaf-answerability.jsonl
//! cargo run --release --example train_answerability -- /tmp/piaf-answerability.jsonl \
//!     src/answer/answerability.json [--max-extra-false-abstentions 0.005]
//! ```
//!
//! The dump holds every answerable question twice: as retrieved ("kept", answerable) and with
//! its relevant paragraph taken out of the hits ("removed": the article's other paragraphs
//! stay, so the question is on topic but its answer is gone). The features are computed here
//! from the dumped passages and candidates with the library's own function, so a change of
//! features needs no new dump.
//!
//! The threshold is the highest (abstaining most) whose false abstentions on the kept
//! questions of the choosing split exceed those of the answerer's other abstention rules alone
//! by at most `--max-extra-false-abstentions` (a share of the questions).
//!
//! `--boost` also fits gradient-boosted trees on the same features and prints their AUC, the
//! comparison that kept the linear model (the trees did no better on the choosing split).

use sourcier::answer::Candidate;
use sourcier::answer::answerability::{self, Model, N, NAMES, Passage};
use sourcier::answer::scorer::Scorer;

struct Row {
    q: usize,
    kept: bool,
    /// The answer still appears in the answer (for "removed": found in another paragraph).
    hit: bool,
    /// The other rules abstained.
    abstained: bool,
    f: [f32; N],
}

fn load(path: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let passages: Vec<Passage> = serde_json::from_value(v["passages"].clone()).expect("passages");
            // A dump from a build with fewer sentence features still serves: the features read
            // here come first, and the rest are padded.
            let mut raw = v["cands"].clone();
            for c in raw.as_array_mut().into_iter().flatten() {
                if let Some(f) = c["features"].as_array_mut() {
                    f.resize(sourcier::answer::FEATURES, serde_json::json!(0.0));
                }
            }
            let mut cands: Vec<Candidate> = serde_json::from_value(raw).expect("candidates");
            // Scored again by this build's sentence scorer, so a scorer retrained after the
            // dump is what the features see.
            for c in &mut cands {
                c.score = Scorer::bundled().score(&c.features);
            }
            cands.sort_by(|a, b| b.score.total_cmp(&a.score));
            let question = v["question"].as_str().expect("question");
            let lang = v["lang"].as_str().expect("lang");
            Row {
                q: v["q"].as_u64().expect("q") as usize,
                kept: v["variant"] == "kept",
                hit: v["hit"].as_bool().unwrap_or(false),
                abstained: v["abstained"].as_bool().unwrap_or(false),
                f: answerability::features(question, lang, &passages, &cands),
            }
        })
        .collect()
}

/// Area under the ROC curve of `score` for telling kept (higher) from removed rows.
fn auc(rows: &[&Row], m: &Model) -> f64 {
    let mut s: Vec<(f32, bool)> = rows.iter().map(|r| (m.log_odds(&r.f), r.kept)).collect();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut neg, mut sum) = (0f64, 0f64);
    for (_, kept) in &s {
        if *kept {
            sum += neg;
        } else {
            neg += 1.0;
        }
    }
    let pos = s.len() as f64 - neg;
    if pos == 0.0 || neg == 0.0 {
        0.5
    } else {
        sum / (pos * neg)
    }
}

/// At threshold `t` (abstain below it, or when the other rules abstain): (false abstention
/// rate on kept rows, abstention recall on removed rows, removed rows abstained, kept rows
/// abstained).
fn at(rows: &[&Row], m: &Model, t: f32) -> (f64, f64, usize, usize) {
    let (mut kept, mut kept_ab, mut removed, mut removed_ab) = (0usize, 0usize, 0usize, 0usize);
    for r in rows {
        let ab = r.abstained || m.log_odds(&r.f) < t;
        if r.kept {
            kept += 1;
            kept_ab += usize::from(ab);
        } else {
            removed += 1;
            removed_ab += usize::from(ab);
        }
    }
    (
        kept_ab as f64 / kept.max(1) as f64,
        removed_ab as f64 / removed.max(1) as f64,
        removed_ab,
        kept_ab,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dump), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: train_answerability DUMP.jsonl OUT.json [--max-extra-false-abstentions 0.005]");
        std::process::exit(2);
    };
    let budget: f64 = args
        .iter()
        .position(|a| a == "--max-extra-false-abstentions")
        .and_then(|i| args.get(i + 1))
        .map_or(0.005, |v| v.parse().expect("a share"));
    let rows = load(dump);
    let fit: Vec<&Row> = rows
        .iter()
        .filter(|r| r.q % 2 == 0)
        // A removed question whose answer another paragraph still gives is not a lesson in
        // abstaining.
        .filter(|r| r.kept || !r.hit)
        .collect();
    let choose: Vec<&Row> = rows.iter().filter(|r| r.q % 4 == 1).collect();
    let report: Vec<&Row> = rows.iter().filter(|r| r.q % 4 == 3).collect();
    eprintln!(
        "{} rows: fit {} (0, 2 mod 4), choose {} (1 mod 4), report {} (3 mod 4)",
        rows.len(),
        fit.len(),
        choose.len(),
        report.len()
    );
    let xs: Vec<([f32; N], bool)> = fit.iter().map(|r| (r.f, r.kept)).collect();
    let mut best: Option<(f64, f64, Model)> = None;
    for l2 in [0.01, 0.1, 1.0, 10.0, 100.0] {
        let m = Model::train(&xs, l2);
        let a = auc(&choose, &m);
        eprintln!("L2 {l2:>6}: AUC fit {:.4}, choose {:.4}", auc(&fit, &m), a);
        if best.as_ref().is_none_or(|b| a > b.0) {
            best = Some((a, l2, m));
        }
    }
    let (choose_auc, l2, mut model) = best.expect("tried");
    if args.iter().any(|a| a == "--boost") {
        let auc_of = |rows: &[&Row], t: &boost::Trees| {
            let mut s: Vec<(f32, bool)> = rows.iter().map(|r| (t.score(&r.f), r.kept)).collect();
            s.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (mut neg, mut sum) = (0f64, 0f64);
            for (_, k) in &s {
                if *k { sum += neg } else { neg += 1.0 }
            }
            let pos = s.len() as f64 - neg;
            sum / (pos * neg)
        };
        for depth in [2, 3, 4] {
            for rounds in [50, 100, 200, 400] {
                let t = boost::train(&xs, rounds, depth, 0.1, 1.0);
                eprintln!(
                    "boost depth {depth} rounds {rounds}: AUC fit {:.4} choose {:.4} report {:.4}",
                    auc_of(&fit, &t),
                    auc_of(&choose, &t),
                    auc_of(&report, &t)
                );
            }
        }
    }
    // The highest threshold within the false-abstention budget on the choosing split.
    let mut zs: Vec<f32> = choose.iter().filter(|r| r.kept).map(|r| model.log_odds(&r.f)).collect();
    zs.sort_by(f32::total_cmp);
    let rules_alone = at(&choose, &model, f32::MIN).0;
    for extra in [0.0025, 0.005, 0.01, 0.02, 0.05, 0.1] {
        let t = zs
            .iter()
            .copied()
            .take_while(|&z| at(&choose, &model, z).0 <= rules_alone + extra)
            .last()
            .unwrap_or(f32::MIN);
        let (fa, rec, _, _) = at(&choose, &model, t);
        let (rfa, rrec, _, _) = at(&report, &model, t);
        eprintln!(
            "  extra false abstentions {extra}: threshold {t:.3}; choose: false abst. {:.2} %, recall {rec:.3}; report: false abst. {:.2} %, recall {rrec:.3}",
            100.0 * fa,
            100.0 * rfa
        );
    }
    let mut threshold = f32::MIN;
    for &z in &zs {
        if at(&choose, &model, z).0 <= rules_alone + budget {
            threshold = z;
        } else {
            break;
        }
    }
    model.threshold = threshold;
    let (base_fa, base_rec, _, _) = at(&choose, &model, f32::MIN);
    let (fa, rec, _, _) = at(&choose, &model, threshold);
    eprintln!(
        "chosen: L2 {l2}, threshold {threshold:.3}; choose split: false abstentions {:.2} % (rules alone {:.2} %), recall {:.3} (rules alone {:.3})",
        100.0 * fa,
        100.0 * base_fa,
        rec,
        base_rec
    );
    let (rfa, rrec, rab, kab) = at(&report, &model, threshold);
    let (rbase_fa, rbase_rec, _, _) = at(&report, &model, f32::MIN);
    let removed = report.iter().filter(|r| !r.kept).count();
    eprintln!(
        "report (3 mod 4): AUC {:.4}; false abstentions {:.2} % ({kab} of {}; rules alone {:.2} %), abstention recall {:.3} ({rab} of {removed}; rules alone {:.3})",
        auc(&report, &model),
        100.0 * rfa,
        report.len() - removed,
        100.0 * rbase_fa,
        rrec,
        rbase_rec
    );
    for (name, w) in NAMES.iter().zip(model.to_file(String::new()).weights) {
        eprintln!("  {name:>28} {w:+.3}");
    }
    let trained_on = format!(
        "PIAF v1.0 answerability dump ({dump}): fit on questions 0, 2 mod 4 ({} rows), L2 {l2} and threshold chosen on 1 mod 4 (AUC {choose_auc:.4}; at most {budget} more false abstentions than the other rules); report 3 mod 4: AUC {:.4}, recall {rrec:.3}, false abstentions {:.4}",
        fit.len(),
        auc(&report, &model),
        rfa
    );
    let file = model.to_file(trained_on);
    let json = serde_json::to_string_pretty(&file).expect("serialises");
    std::fs::write(out, json + "\n").unwrap_or_else(|e| panic!("writing {out}: {e}"));
    eprintln!("wrote {out}");
}

/// Gradient-boosted trees (logistic loss), for comparing against the linear model.
mod boost {
    use super::N;

    #[derive(Clone, Copy, Debug)]
    pub struct Node {
        pub f: usize,
        pub t: f32,
        pub l: usize,
        pub r: usize,
        pub v: f32,
        pub leaf: bool,
    }

    pub struct Trees {
        pub base: f32,
        pub trees: Vec<Vec<Node>>,
    }

    impl Trees {
        pub fn score(&self, x: &[f32; N]) -> f32 {
            let mut z = self.base;
            for t in &self.trees {
                let mut i = 0;
                loop {
                    let n = t[i];
                    if n.leaf {
                        z += n.v;
                        break;
                    }
                    i = if x[n.f] <= n.t { n.l } else { n.r };
                }
            }
            z
        }
    }

    fn cuts(xs: &[[f32; N]], f: usize, bins: usize) -> Vec<f32> {
        let mut v: Vec<f32> = xs.iter().map(|x| x[f]).collect();
        v.sort_by(f32::total_cmp);
        let mut c: Vec<f32> = (1..bins).map(|k| v[k * (v.len() - 1) / bins]).collect();
        c.dedup();
        c
    }

    pub fn train(rows: &[([f32; N], bool)], rounds: usize, depth: usize, lr: f32, lambda: f64) -> Trees {
        let xs: Vec<[f32; N]> = rows.iter().map(|r| r.0).collect();
        let ys: Vec<f64> = rows.iter().map(|r| f64::from(u8::from(r.1))).collect();
        let cut: Vec<Vec<f32>> = (0..N).map(|f| cuts(&xs, f, 32)).collect();
        let pos = ys.iter().sum::<f64>() / ys.len() as f64;
        let base = (pos / (1.0 - pos)).ln() as f32;
        let mut z: Vec<f32> = vec![base; xs.len()];
        let mut trees = Vec::new();
        for _ in 0..rounds {
            let g: Vec<f64> = z
                .iter()
                .zip(&ys)
                .map(|(z, y)| 1.0 / (1.0 + (-*z as f64).exp()) - y)
                .collect();
            let h: Vec<f64> = z
                .iter()
                .map(|z| {
                    let p = 1.0 / (1.0 + (-*z as f64).exp());
                    (p * (1.0 - p)).max(1e-6)
                })
                .collect();
            let mut nodes: Vec<Node> = Vec::new();
            grow(
                &xs,
                &g,
                &h,
                &cut,
                (0..xs.len()).collect(),
                depth,
                lr,
                lambda,
                &mut nodes,
            );
            let t = Trees {
                base: 0.0,
                trees: vec![nodes],
            };
            for (zi, x) in z.iter_mut().zip(&xs) {
                *zi += t.score(x);
            }
            trees.push(t.trees.into_iter().next().unwrap());
        }
        Trees { base, trees }
    }

    #[allow(clippy::too_many_arguments)]
    fn grow(
        xs: &[[f32; N]],
        g: &[f64],
        h: &[f64],
        cut: &[Vec<f32>],
        idx: Vec<usize>,
        depth: usize,
        lr: f32,
        lambda: f64,
        nodes: &mut Vec<Node>,
    ) -> usize {
        let gs: f64 = idx.iter().map(|&i| g[i]).sum();
        let hs: f64 = idx.iter().map(|&i| h[i]).sum();
        let me = nodes.len();
        nodes.push(Node {
            f: 0,
            t: 0.0,
            l: 0,
            r: 0,
            v: (-gs / (hs + lambda)) as f32 * lr,
            leaf: true,
        });
        if depth == 0 || idx.len() < 20 {
            return me;
        }
        let parent = gs * gs / (hs + lambda);
        let mut best: Option<(f64, usize, f32)> = None;
        for f in 0..N {
            let c = &cut[f];
            if c.is_empty() {
                continue;
            }
            let mut hg = vec![0f64; c.len() + 1];
            let mut hh = vec![0f64; c.len() + 1];
            for &i in &idx {
                let b = c.partition_point(|&t| t < xs[i][f]);
                hg[b] += g[i];
                hh[b] += h[i];
            }
            let (mut gl, mut hl) = (0f64, 0f64);
            for b in 0..c.len() {
                gl += hg[b];
                hl += hh[b];
                let (gr, hr) = (gs - gl, hs - hl);
                if hl < 1.0 || hr < 1.0 {
                    continue;
                }
                let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent;
                if best.is_none_or(|x| gain > x.0) {
                    best = Some((gain, f, c[b]));
                }
            }
        }
        let Some((gain, f, t)) = best else { return me };
        if gain <= 1e-6 {
            return me;
        }
        let (li, ri): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| xs[i][f] <= t);
        let l = grow(xs, g, h, cut, li, depth - 1, lr, lambda, nodes);
        let r = grow(xs, g, h, cut, ri, depth - 1, lr, lambda, nodes);
        nodes[me] = Node {
            f,
            t,
            l,
            r,
            v: 0.0,
            leaf: false,
        };
        me
    }
}

//! Builds a cross-lingual SQuAD file: the questions of a SQuAD file (PIAF: French) translated
//! into English by the bundled generator (Qwen2.5 0.5B), with the contexts and answers left as
//! they are. `sourcier eval OUT --lang en --answers` then measures what users do when they ask
//! French articles in English, which neither PIAF (French on French) nor XQuAD (English on
//! English) measures.
//!
//! Run: `cargo run --release --example translate_questions -- IN.json OUT.json [--limit N]
//! [--only R/M]`. `--only 1,3/4` translates the questions numbered 1 or 3 modulo 4 as `eval`
//! numbers them (in file order), so that a split of the output means the same questions as a
//! split of the input; the others keep their French text and are marked so, and `eval --split
//! 1/4` or `3/4` then reads only translated ones. Greedy decoding: the same file every run.
//! A translation that is empty, keeps no question shape, or is the question itself is left in
//! French and counted.
//!
//! A 0.5B model translates like a hurried learner: "Quand a eu lieu le traité de Berlin ?"
//! came out as "When did the Berlin incident occur?", and rare French words stay French
//! ("the blindage of the prames"), which BM25 can still match. Read the figures as a noisy
//! lower bound of English users, not as a translation benchmark. About 2 s a question on two
//! cores.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;
use sourcier::generate::{GenerateOptions, Generator};
use sourcier::models::{self, Paths};
use sourcier::progress::NoProgress;

// The examples name no one: with "Huawei" in them, the model put Huawei into 4 % of the
// translations ("En quelle année commence-t-il sa carrière ?" -> "… did Huawei start her
// career?"). A pronoun stays a pronoun.
const SYSTEM: &str = "You are a translator. Translate the French question into English. Do not answer it. \
     Output only the English question.\n\
     French: Combien de ponts la ville compte-t-elle ?\nEnglish: How many bridges does the city have?\n\
     French: En quelle année a-t-il quitté le club ?\nEnglish: In which year did he leave the club?\n\
     French: Pourquoi le projet a-t-il été abandonné ?\nEnglish: Why was the project abandoned?";

/// The user turn: the question framed as the system's examples are.
fn prompt(fr: &str) -> String {
    format!("French: {fr}\nEnglish:")
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        bail!("usage: translate_questions IN.json OUT.json [--limit N] [--only R/M]");
    };
    let mut limit = usize::MAX;
    let mut only: Option<(Vec<usize>, usize)> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--limit" => limit = args.next().context("--limit N")?.parse()?,
            "--only" => {
                let v = args.next().context("--only R/M")?;
                let (rs, m) = v.split_once('/').context("--only R/M")?;
                let rs = rs.split(',').map(|r| r.parse()).collect::<Result<Vec<usize>, _>>()?;
                only = Some((rs, m.parse()?));
            }
            _ => bail!("unknown argument {a}"),
        }
    }
    let text = std::fs::read_to_string(&input).with_context(|| format!("reading {input}"))?;
    let mut squad: Value = serde_json::from_str(&text).with_context(|| format!("parsing {input}"))?;
    let path: PathBuf = models::ensure(&Paths::from_env(), models::DEFAULT_GENERATOR, &NoProgress)?.join("model.gguf");
    let mut g = Generator::load(&path)?;
    let opts = GenerateOptions {
        max_tokens: 64,
        repeat_penalty: 1.0,
        ..GenerateOptions::default()
    };
    let started = Instant::now();
    let (mut done, mut kept) = (0usize, 0usize);
    // `eval` numbers the questions from 0 in file order, skipping empty and impossible ones
    // and any that repeats an earlier question's text; so does this, and a translation that
    // would repeat another question's text stays French, so the numbers do not shift.
    let mut seen = std::collections::HashSet::new();
    let mut texts = std::collections::HashSet::new();
    // A question repeated later in the file gets its first copy's translation, so that `eval`
    // still skips it as a repeat.
    let mut translated: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let data = squad["data"].as_array_mut().context("no data array")?;
    'all: for article in data {
        for para in article["paragraphs"].as_array_mut().into_iter().flatten() {
            for qa in para["qas"].as_array_mut().into_iter().flatten() {
                let raw = qa["question"].as_str().unwrap_or_default().to_string();
                if raw.trim().is_empty() || qa["is_impossible"] == Value::Bool(true) {
                    continue;
                }
                if !seen.insert(raw.clone()) {
                    if let Some(en) = translated.get(&raw) {
                        qa["question_fr"] = Value::String(raw.clone());
                        qa["question"] = Value::String(en.clone());
                    }
                    continue;
                }
                let i = seen.len() - 1;
                if done >= limit {
                    break 'all;
                }
                let wanted = only.as_ref().is_none_or(|(rs, m)| rs.contains(&(i % m)));
                if !wanted {
                    texts.insert(raw);
                    continue;
                }
                let fr = raw.trim().to_string();
                let out = g.chat(SYSTEM, &prompt(&fr), &opts, &mut |_| {})?;
                let en = out.text.lines().next().unwrap_or_default();
                let en = en
                    .trim()
                    .trim_start_matches("English:")
                    .trim()
                    .trim_matches('"')
                    .trim()
                    .to_string();
                done += 1;
                if en.is_empty()
                    || en == fr
                    || !en.ends_with('?') && en.split_whitespace().count() > 25
                    || seen.contains(&en)
                    || !texts.insert(en.clone())
                {
                    kept += 1;
                    texts.insert(raw);
                    continue;
                }
                // The raw text, not the trimmed one: `eval` tells repeats apart by it, and
                // so must whoever renumbers this file (reader_pairs --translated).
                qa["question_fr"] = Value::String(raw.clone());
                translated.insert(raw, en.clone());
                qa["question"] = Value::String(en);
                if done.is_multiple_of(100) {
                    eprintln!(
                        "{done} translated in {:.0} s; last: {}",
                        started.elapsed().as_secs_f64(),
                        qa["question"]
                    );
                }
            }
        }
    }
    std::fs::write(&output, serde_json::to_string(&squad)?).with_context(|| format!("writing {output}"))?;
    eprintln!(
        "{done} questions read, {} translated, {kept} left in French, in {:.0} s",
        done - kept,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

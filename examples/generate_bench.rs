//! Measures the generator on a typical `ask` prompt: numbered passages plus a question.
//!
//! Run: `cargo run --release --example generate_bench [-- PATH.gguf|default [RUNS [MAX_TOKENS [COPIES]]]]`.
//! `default` (or no path) uses, and if needed fetches, the default generator; COPIES repeats
//! the passages to measure long prompts. Reports prompt size, prompt processing time and
//! speed, and generation speed, per run.

use std::path::PathBuf;
use std::time::Instant;

use sourcier::generate::{GenerateOptions, Generator};
use sourcier::models::{self, Paths};
use sourcier::progress::NoProgress;

const SYSTEM: &str = "Answer using only the numbered passages. Cite passages by number, like [1].";

const PASSAGES: &[&str] = &[
    "IBM envoie 25 consultants chez Huawei pour l'aider à réorganiser sa chaîne d'approvisionnement, selon un accord signé à Shenzhen.",
    "Huawei a été fondé en 1987 par Ren Zhengfei, un ancien ingénieur de l'armée, avec un capital de 21 000 yuans.",
    "The contract runs for eighteen months and covers procurement, logistics and new factories.",
];

const QUESTION: &str = "How many consultants does IBM send to Huawei, and what will they work on? Answer in two sentences and cite the passage numbers.";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = match args.next() {
        Some(p) if p != "default" => PathBuf::from(p),
        _ => models::ensure(&Paths::from_env(), models::DEFAULT_GENERATOR, &NoProgress)?.join("model.gguf"),
    };
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let max_tokens: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let copies: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);

    let t = Instant::now();
    let mut g = Generator::load(&path)?;
    println!(
        "loaded {} ({}, {:?}) in {:.2} s",
        path.display(),
        g.architecture(),
        g.template(),
        t.elapsed().as_secs_f64()
    );

    let mut user = String::from("Passages:\n");
    for (i, p) in PASSAGES.iter().cycle().take(PASSAGES.len() * copies).enumerate() {
        user.push_str(&format!("[{}] {}\n", i + 1, p));
    }
    user.push_str(&format!("\nQuestion: {QUESTION}"));
    let opts = GenerateOptions {
        max_tokens,
        ..GenerateOptions::default()
    };

    for run in 1..=runs {
        let mut first_piece_ms = None;
        let started = Instant::now();
        let out = g.chat(SYSTEM, &user, &opts, &mut |_| {
            first_piece_ms.get_or_insert(started.elapsed().as_secs_f64() * 1e3);
        })?;
        println!(
            "run {run}: prompt {} tokens in {:.0} ms ({:.1} tok/s); first text after {:.0} ms; \
             generated {} tokens in {:.0} ms ({:.1} tok/s), stopped by {:?}",
            out.prompt_tokens,
            out.prompt_ms,
            out.prompt_tokens_per_second(),
            first_piece_ms.unwrap_or(f64::NAN),
            out.generated_tokens,
            out.generate_ms,
            out.tokens_per_second(),
            out.stopped
        );
        if run == 1 {
            println!("answer: {}", out.text.trim());
        }
    }
    Ok(())
}

//! Writes the two synthetic corpora of the ingest-memory benchmark (`docs/benchmarks.md`,
//! "Ingest memory"): one 50 MB plain-text file, and 10,000 small articles (about 4 kB each).
//!
//! `cargo run --release --example big_corpus -- OUT_DIR [--mb 50] [--files 10000]`
//!
//! writes `OUT_DIR/big/big.txt` and `OUT_DIR/many/a00000.txt …`; then measure with, e.g.,
//! `/usr/bin/time -v sourcier --embedder hashing --index /tmp/i ingest OUT_DIR/big`.
//! French sentences from a small vocabulary, seeded, so every run writes the same bytes.

use std::io::Write;
use std::path::PathBuf;

/// xorshift64*, so the example needs no extra crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

const WORDS: &[&str] = &[
    "le",
    "la",
    "les",
    "une",
    "des",
    "économie",
    "Huawei",
    "résultats",
    "publié",
    "marché",
    "croissance",
    "trimestre",
    "entreprise",
    "chiffre",
    "affaires",
    "société",
    "téléphone",
    "réseau",
    "Europe",
    "Chine",
    "gouvernement",
    "annonce",
];

fn sentence(rng: &mut Rng, min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    let mut s: String = (0..n)
        .map(|_| WORDS[rng.below(WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ");
    s.push('.');
    s
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let (mut mb, mut files) = (50usize, 10_000usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            "--files" => files = args.next().and_then(|v| v.parse().ok()).expect("--files N"),
            _ => out = Some(PathBuf::from(a)),
        }
    }
    let out = out.expect("usage: big_corpus OUT_DIR [--mb 50] [--files 10000]");
    let mut rng = Rng(0x5eed_cafe);

    std::fs::create_dir_all(out.join("big"))?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("big/big.txt"))?);
    let mut written = 0;
    while written < mb * 1_000_000 {
        let mut s = sentence(&mut rng, 8, 25);
        s.push(' ');
        if rng.below(10) == 0 {
            s.push_str("\n\n");
        }
        f.write_all(s.as_bytes())?;
        written += s.len();
    }
    f.flush()?;

    std::fs::create_dir_all(out.join("many"))?;
    for i in 0..files {
        let mut text = format!("Titre {i}\n\n");
        for _ in 0..6 {
            text += &sentence(&mut rng, 40, 80);
            text += "\n\n";
        }
        std::fs::write(out.join(format!("many/a{i:05}.txt")), text)?;
    }
    eprintln!("wrote {} MB in big/ and {files} files in many/", mb);
    Ok(())
}

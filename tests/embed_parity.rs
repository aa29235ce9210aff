//! The candle EmbeddingGemma against sentence-transformers, with the real model.

mod util;

use sourcier::embed::{Document, Embedder};
use util::{cosine, embedder, reference};

#[test]
fn token_ids_match_sentence_transformers() {
    let e = embedder();
    for item in reference() {
        let ids = e.tokenize(&format!("{}{}", item.prompt, item.text)).unwrap();
        assert_eq!(ids, item.input_ids, "token ids differ for {}", item.id);
    }
}

#[test]
fn embeddings_match_sentence_transformers() {
    let e = embedder();
    let items = reference();
    let texts: Vec<String> = items.iter().map(|i| format!("{}{}", i.prompt, i.text)).collect();
    let got = e.embed_prompted(&texts).unwrap();
    let mut worst = (1.0f32, String::new());
    for (item, v) in items.iter().zip(&got) {
        let c = cosine(v, &item.embedding);
        if c < worst.0 {
            worst = (c, item.id.clone());
        }
    }
    eprintln!("worst cosine {:.7} ({})", worst.0, worst.1);
    assert!(worst.0 >= 0.9999, "cosine {} for {} is below 0.9999", worst.0, worst.1);
}

/// The default embedder with int8 matrix products, loaded once per test binary.
fn int8_embedder() -> &'static sourcier::embed::GemmaEmbedder {
    use sourcier::embed::{GemmaEmbedder, ModelSpec, Precision};
    use sourcier::models;
    static E: std::sync::OnceLock<GemmaEmbedder> = std::sync::OnceLock::new();
    E.get_or_init(|| {
        let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
        let mut spec = ModelSpec::from_manifest(&m, util::model_dir(), None).unwrap();
        spec.precision = Precision::Int8;
        GemmaEmbedder::load(&spec).expect("loading the int8 embedder")
    })
}

#[test]
fn int8_embeddings_stay_close_to_sentence_transformers() {
    let e = int8_embedder();
    let items = reference();
    let texts: Vec<String> = items.iter().map(|i| format!("{}{}", i.prompt, i.text)).collect();
    let got = e.embed_prompted(&texts).unwrap();
    let cos: Vec<f32> = items.iter().zip(&got).map(|(i, v)| cosine(v, &i.embedding)).collect();
    let (worst, at) = cos
        .iter()
        .zip(&items)
        .min_by(|a, b| a.0.total_cmp(b.0))
        .map(|(c, i)| (*c, i.id.clone()))
        .unwrap();
    let mean = cos.iter().sum::<f32>() / cos.len() as f32;
    eprintln!(
        "int8: worst cosine {worst:.5} ({at}), mean {mean:.5} over {} texts",
        cos.len()
    );
    assert!(worst >= 0.99, "int8 cosine {worst} for {at} is below 0.99");
    // One query alone takes the few-rows path of the kernels; it must agree with the batch.
    let single = e.embed_prompted(std::slice::from_ref(&texts[0])).unwrap();
    assert!(cosine(&single[0], &got[0]) > 0.9999);
}

#[test]
fn int8_has_its_own_fingerprint_and_name() {
    let (a, b) = (embedder(), int8_embedder());
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert!(b.name().ends_with("/int8"), "{}", b.name());
    assert!(!a.name().contains("int8"));
}

#[test]
fn batched_equals_one_at_a_time() {
    let e = embedder();
    let items: Vec<_> = reference().into_iter().step_by(23).collect();
    let texts: Vec<String> = items.iter().map(|i| format!("{}{}", i.prompt, i.text)).collect();
    let batched = e.embed_prompted(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batched) {
        let single = e.embed_prompted(std::slice::from_ref(t)).unwrap();
        let c = cosine(&single[0], b);
        assert!(c > 0.99999, "batched and single differ: cosine {c}");
    }
}

#[test]
fn query_and_document_prompts_are_applied() {
    let e = embedder();
    let items = reference();
    let q = items.iter().find(|i| i.kind == "query").unwrap();
    let got = e.embed_queries(&[&q.text]).unwrap();
    assert!(cosine(&got[0], &q.embedding) >= 0.9999);
    let d = items.iter().find(|i| i.kind == "document").unwrap();
    let got = e
        .embed_documents(&[Document {
            title: None,
            text: &d.text,
        }])
        .unwrap();
    assert!(cosine(&got[0], &d.embedding) >= 0.9999);
    // A title changes the prompt, hence the vector.
    let titled = e
        .embed_documents(&[Document {
            title: Some("Huawei"),
            text: &d.text,
        }])
        .unwrap();
    assert!(cosine(&titled[0], &d.embedding) < 0.99999);
}

#[test]
fn french_is_closer_to_its_translation_than_to_unrelated_text() {
    let e = embedder();
    let v = e
        .embed_documents(&[
            Document {
                title: None,
                text: "IBM envoie 25 consultants pour aider Huawei à améliorer son image de marque.",
            },
            Document {
                title: None,
                text: "IBM is sending 25 consultants to help Huawei improve its brand image.",
            },
            Document {
                title: None,
                text: "Bake the cake for forty minutes, then let it cool before slicing.",
            },
        ])
        .unwrap();
    let (same, other) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    assert!(same > other + 0.2, "translation {same} vs unrelated {other}");
    let q = e
        .embed_queries(&["How many consultants does IBM send to Huawei?"])
        .unwrap();
    assert!(cosine(&q[0], &v[0]) > cosine(&q[0], &v[2]) + 0.1);
}

#[test]
fn matryoshka_dims_are_normalised_prefixes() {
    use sourcier::embed::{GemmaEmbedder, ModelSpec, Precision};
    use sourcier::models;
    let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
    // In the precision of the full-size reference embedder (f32), not the default.
    let mut spec = ModelSpec::from_manifest(&m, util::model_dir(), Some(256)).unwrap();
    spec.precision = Precision::F32;
    let small = GemmaEmbedder::load(&spec).unwrap();
    let full = embedder();
    let text = "Le contrat a été révélé par Ross Gan.";
    let a = small.embed_queries(&[text]).unwrap().remove(0);
    let b = full.embed_queries(&[text]).unwrap().remove(0);
    assert_eq!(a.len(), 256);
    assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(cosine(&a, &b[..256]) > 0.99999);
    assert_ne!(small.fingerprint(), full.fingerprint());
}

#[test]
fn too_long_input_is_refused_not_truncated() {
    let e = embedder();
    let long = "mot ".repeat(3000);
    let err = e.embed_queries(&[&long]).unwrap_err();
    assert!(err.to_string().contains("exceeds the model window"), "{err}");
}

/// The answer reader's input: every passage token's state, with byte spans that tile the
/// passage in order (spaces aside), and the question's mean state.
#[test]
fn reader_states_tile_the_passage_in_order() {
    let e = embedder();
    let passages = ["IBM envoie 25 consultants chez Huawei à Shenzhen.", "Rien à voir ici."];
    let read = e
        .read_pairs("Combien de consultants IBM envoie-t-il ?", &passages, None)
        .unwrap()
        .expect("EmbeddingGemma has token states");
    assert_eq!(read.len(), passages.len());
    assert!(e.state_space().is_some_and(|s| s.ends_with("/hidden768")));
    for (p, r) in passages.iter().zip(&read) {
        assert_eq!(r.hidden, 768);
        assert_eq!(r.question.len(), 768);
        assert_eq!(r.first.len(), 768);
        assert_eq!(r.states.len(), r.spans.len() * 768);
        assert!(r.states.iter().chain(&r.question).all(|v| v.is_finite()));
        let mut end = 0;
        let mut covered = String::new();
        for s in &r.spans {
            assert!(s.start >= end && s.end > s.start && s.end <= p.len(), "{s:?} in {p:?}");
            end = s.end;
            covered.push_str(&p[s.clone()]);
        }
        let squash = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(squash(&covered), squash(p), "the tokens' spans must tile the passage");
    }
    // The question changes the passage's states: it is read together with it.
    let other = e
        .read_pairs("Qui dirige Huawei ?", &passages[..1], None)
        .unwrap()
        .unwrap();
    assert_eq!(other[0].spans, read[0].spans);
    assert_ne!(other[0].states, read[0].states);
}

/// A few short texts (the portable kernel is slow): two queries and two documents.
fn short_prompted_texts() -> Vec<String> {
    let mut items = reference();
    items.sort_by_key(|i| i.input_ids.len());
    let queries = items.iter().filter(|i| i.kind == "query").take(2);
    let docs = items.iter().filter(|i| i.kind == "document").take(2);
    queries.chain(docs).map(|i| format!("{}{}", i.prompt, i.text)).collect()
}

fn load_int8(dir: std::path::PathBuf) -> sourcier::embed::GemmaEmbedder {
    use sourcier::embed::{GemmaEmbedder, ModelSpec, Precision};
    use sourcier::models;
    let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
    let mut spec = ModelSpec::from_manifest(&m, dir, None).unwrap();
    spec.precision = Precision::Int8;
    GemmaEmbedder::load(&spec).expect("loading the int8 embedder")
}

#[test]
fn every_int8_kernel_gives_the_same_vectors() {
    use sourcier::embed::int8::Kernel;
    let mut e = load_int8(util::model_dir());
    let texts = short_prompted_texts();
    // The fastest kernel (VNNI on CPUs that have it) is the reference for the others.
    let best = Kernel::best();
    e.set_int8_kernel(best).unwrap();
    let expected = e.embed_prompted(&texts).unwrap();
    let mut compared = vec![best.name()];
    for kernel in Kernel::ALL.into_iter().filter(|k| k.supported() && *k != best) {
        e.set_int8_kernel(kernel).unwrap();
        let got = e.embed_prompted(&texts).unwrap();
        // Every kernel computes the same exact integer sums, and everything else is the same
        // f32 code, so the vectors are bit for bit the same.
        assert_eq!(
            got,
            expected,
            "the {} kernel differs from {}",
            kernel.name(),
            best.name()
        );
        compared.push(kernel.name());
    }
    eprintln!("int8 kernels compared on {} texts: {compared:?}", texts.len());
    for kernel in Kernel::ALL.into_iter().filter(|k| !k.supported()) {
        assert!(e.set_int8_kernel(kernel).is_err());
    }
    assert!(embedder_f32_refuses_a_kernel());
}

/// An f32 embedder has no int8 products to switch.
fn embedder_f32_refuses_a_kernel() -> bool {
    use sourcier::embed::{GemmaEmbedder, ModelSpec, Precision};
    use sourcier::models;
    let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
    let mut spec = ModelSpec::from_manifest(&m, util::model_dir(), None).unwrap();
    spec.precision = Precision::F32;
    let mut e = GemmaEmbedder::load(&spec).unwrap();
    e.set_int8_kernel(sourcier::embed::int8::Kernel::Portable).is_err()
}

#[cfg(unix)]
/// A model folder of links to the installed one, so its int8 cache can be damaged freely.
fn linked_model_folder() -> tempfile::TempDir {
    let src = util::model_dir();
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == sourcier::embed::int8_cache::CACHE_FILE {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

#[cfg(unix)]
#[test]
fn the_int8_cache_gives_the_vectors_of_a_fresh_quantisation_and_survives_damage() {
    use sourcier::embed::int8_cache::CACHE_FILE;
    let dir = linked_model_folder();
    let cache = dir.path().join(CACHE_FILE);
    let texts = short_prompted_texts();
    // First load: quantised from the f32 weights, and the cache written.
    let fresh = load_int8(dir.path().to_path_buf()).embed_prompted(&texts).unwrap();
    let written = std::fs::read(&cache).expect("the first int8 load writes the cache");
    // Second load: mapped from the cache, same vectors bit for bit.
    let mapped = load_int8(dir.path().to_path_buf()).embed_prompted(&texts).unwrap();
    assert_eq!(mapped, fresh);
    // A damaged cache is not used: the weights are quantised again and the cache rewritten.
    let mut bad = written.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&cache, &bad).unwrap();
    let again = load_int8(dir.path().to_path_buf()).embed_prompted(&texts).unwrap();
    assert_eq!(again, fresh);
    assert!(
        std::fs::read(&cache).unwrap() == written,
        "the damaged cache was not rewritten"
    );
}

#[test]
fn the_typed_tokenizer_reader_builds_the_librarys_tokenizer() {
    let path = util::model_dir().join("tokenizer.json");
    let bytes = std::fs::read(&path).unwrap();
    // The typed reader must take this file itself: load_tokenizer would otherwise fall back
    // to the library's reader and the comparison below would prove nothing.
    let typed = sourcier::embed::typed_bpe_tokenizer(&bytes).expect("the typed reader reads tokenizer.json");
    let library = tokenizers::Tokenizer::from_file(&path).unwrap();
    // Same vocabulary and merges, in the same order.
    assert_eq!(
        serde_json::to_string(typed.get_model()).unwrap(),
        serde_json::to_string(library.get_model()).unwrap()
    );
    let mut texts: Vec<String> = reference()
        .into_iter()
        .map(|i| format!("{}{}", i.prompt, i.text))
        .collect();
    texts.extend(
        [
            "<start_of_turn>user\nBonjour<end_of_turn>",
            "\n\n\n\t\t  espaces   multiples\u{a0}et insécables",
            "emoji 🤗, ñ, 漢字 et \u{1}",
            "<unk><pad><mask><bos><eos>",
        ]
        .map(String::from),
    );
    for t in &texts {
        for special in [true, false] {
            let a = typed.encode(t.as_str(), special).unwrap();
            let b = library.encode(t.as_str(), special).unwrap();
            assert_eq!(a.get_ids(), b.get_ids(), "{t:?}");
            assert_eq!(a.get_offsets(), b.get_offsets(), "{t:?}");
        }
    }
    assert_eq!(typed.get_vocab_size(true), library.get_vocab_size(true));
    let added = |tk: &tokenizers::Tokenizer| {
        let mut v: Vec<_> = tk
            .get_added_tokens_decoder()
            .into_iter()
            .map(|(id, t)| (id, t.content, t.special, t.normalized))
            .collect();
        v.sort();
        v
    };
    assert_eq!(added(&typed), added(&library));
}

/// The shipped answer reader, run by this build, reads as the fine-tuning script that made
/// it (`examples/finetune_reader.py` stored its own margins and spans for a few pairs): in
/// f32 to rounding, and in int8 within a margin that keeps its decisions.
#[test]
fn the_shipped_reader_reads_as_it_was_trained() {
    use sourcier::answer::reader::{Reader, tidy_span};
    let e = embedder();
    let space = e.state_space().expect("EmbeddingGemma has states");
    let reader = Reader::shipped_for(&space).expect("a reader ships for EmbeddingGemma");
    let checks = &reader.file().checks;
    assert!(checks.len() >= 3, "reader.json carries too few checks");
    for (emb, precision, tol) in [(e as &dyn Embedder, "f32", 0.05), (int8_embedder(), "int8", 1.5)] {
        for c in checks {
            let st = emb
                .read_pairs(&c.question, &[c.sentence.as_str()], Some(reader.adapter()))
                .unwrap()
                .expect("states");
            let r = reader.read(&c.sentence, &st[0]);
            eprintln!(
                "{precision}: margin {:.3} (script {:.3}) for {:?}",
                r.margin, c.margin, c.question
            );
            assert!(
                (r.margin - c.margin).abs() <= tol,
                "{precision}: margin {} against the script's {} for {:?}",
                r.margin,
                c.margin,
                c.question
            );
            if precision == "f32" {
                assert_eq!(r.span, tidy_span(&c.sentence, c.span[0]..c.span[1]), "{:?}", c.question);
            }
        }
    }
}

/// Adapters whose updates are zero leave the encoder's states as they were.
#[test]
fn a_zero_adapter_changes_nothing() {
    use sourcier::embed::Adapter;
    let e = embedder();
    let passages = ["IBM envoie 25 consultants chez Huawei à Shenzhen."];
    let plain = e
        .read_pairs("Combien de consultants ?", &passages, None)
        .unwrap()
        .unwrap();
    let zero = |shape: (usize, usize)| {
        candle_core::Tensor::zeros(shape, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap()
    };
    let mut tensors = std::collections::HashMap::new();
    tensors.insert("layers.23.mlp.up_proj.lora_a".to_string(), zero((2, 768)));
    tensors.insert("layers.23.mlp.up_proj.lora_b".to_string(), zero((1152, 2)));
    let adapter = Adapter {
        id: "zero".into(),
        first_layer: 22,
        tensors,
    };
    let adapted = e
        .read_pairs("Combien de consultants ?", &passages, Some(&adapter))
        .unwrap()
        .unwrap();
    assert_eq!(plain[0].spans, adapted[0].spans);
    let worst = plain[0]
        .states
        .iter()
        .zip(&adapted[0].states)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "a zero update moved a state by {worst}");
}

/// The shipped reader, as answers run it (int8), marks the number that answers a "combien"
/// question and ranks the sentence holding it above an on-topic one that does not, in French
/// and for the same question in English (it was trained on French only).
#[test]
fn the_shipped_reader_marks_the_fact_and_prefers_the_answering_sentence() {
    use sourcier::answer::reader::Reader;
    let e = int8_embedder();
    let reader = Reader::shipped_for(&e.state_space().unwrap()).expect("a reader ships");
    let sentences = [
        "IBM lui envoie 25 consultants pour remédier au problème.",
        "Huawei et IBM ont une relation intime depuis 1999.",
    ];
    for q in [
        "Combien de consultants IBM envoie-t-il chez Huawei ?",
        "How many consultants is IBM sending to Huawei?",
    ] {
        let st = e.read_pairs(q, &sentences, Some(reader.adapter())).unwrap().unwrap();
        let yes = reader.read(sentences[0], &st[0]);
        let no = reader.read(sentences[1], &st[1]);
        let span = yes.span.clone().map(|r| &sentences[0][r]);
        assert!(span.is_some_and(|s| s.contains("25")), "{q}: marked {span:?}");
        assert!(yes.margin > no.margin + 2.0, "{q}: {yes:?} against {no:?}");
    }
}

/// The shipped reader (int8, as answers run it) marks the fact of each kind of question in
/// French and in English, on sentences written for this test (not from its training set).
#[test]
fn the_shipped_reader_marks_each_type_of_fact_in_both_languages() {
    use sourcier::answer::reader::Reader;
    let e = int8_embedder();
    let reader = Reader::shipped_for(&e.state_space().unwrap()).expect("a reader ships");
    let cases = [
        // number
        (
            "Combien a coûté le chantier ?",
            "Le chantier a coûté 12 millions d'euros à la ville de Lyon.",
            "12 millions",
        ),
        (
            "How many workers does the plant employ?",
            "The plant employs 1,200 workers near Dresden.",
            "1,200",
        ),
        // person
        (
            "Qui a rédigé le rapport ?",
            "Le rapport a été rédigé par Claire Martin, économiste à l'OFCE.",
            "Claire Martin",
        ),
        (
            "Who founded the company?",
            "The company was founded by Ren Zhengfei in 1987.",
            "Ren Zhengfei",
        ),
        // date
        (
            "Quand l'usine a-t-elle ouvert ?",
            "L'usine a ouvert ses portes le 3 mars 2015 à Grenoble.",
            "2015",
        ),
        (
            "When was the bridge opened?",
            "The bridge was opened to traffic in June 1994.",
            "1994",
        ),
        // place
        (
            "Où se trouve le siège de l'entreprise ?",
            "Le siège de l'entreprise se trouve à Armonk, dans l'État de New York.",
            "Armonk",
        ),
        (
            "Where was the summit held?",
            "The summit was held in Geneva last week.",
            "Geneva",
        ),
        // cause
        (
            "Pourquoi le projet a-t-il été abandonné ?",
            "Le projet a été abandonné parce que les coûts avaient doublé.",
            "coûts",
        ),
        (
            "Why was the flight cancelled?",
            "The flight was cancelled because of a storm over the Atlantic.",
            "storm",
        ),
    ];
    let mut missed = Vec::new();
    for (q, sentence, fact) in cases {
        let st = e.read_pairs(q, &[sentence], Some(reader.adapter())).unwrap().unwrap();
        let r = reader.read(sentence, &st[0]);
        let span = r.span.clone().map(|s| sentence[s].to_string());
        // The fact, not the sentence: seen spans are "12 millions", "le 3 mars 2015", "in
        // Geneva", "because of a storm over the Atlantic".
        if !span
            .as_deref()
            .is_some_and(|s| s.contains(fact) && 3 * s.len() <= 2 * sentence.len())
        {
            missed.push(format!("{q} -> {span:?} (margin {:.2}), expected {fact:?}", r.margin));
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
}

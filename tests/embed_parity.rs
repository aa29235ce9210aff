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
    use sourcier::embed::{GemmaEmbedder, ModelSpec};
    use sourcier::models;
    let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
    let small = GemmaEmbedder::load(&ModelSpec::from_manifest(&m, util::model_dir(), Some(256)).unwrap()).unwrap();
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
        .read_pairs("Combien de consultants IBM envoie-t-il ?", &passages)
        .unwrap()
        .expect("EmbeddingGemma has token states");
    assert_eq!(read.len(), passages.len());
    assert!(e.state_space().is_some_and(|s| s.ends_with("/hidden768")));
    for (p, r) in passages.iter().zip(&read) {
        assert_eq!(r.hidden, 768);
        assert_eq!(r.question.len(), 768);
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
    let other = e.read_pairs("Qui dirige Huawei ?", &passages[..1]).unwrap().unwrap();
    assert_eq!(other[0].spans, read[0].spans);
    assert_ne!(other[0].states, read[0].states);
}

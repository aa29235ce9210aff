//! Corpus tests: the shipped seed articles, each format, encodings, discovery, and properties.

use super::*;
use proptest::prelude::*;
use std::fs;

/// Strings that must never reach an index block.
const FURNITURE: &[&str] = &[
    "Lire aussi",
    "Laisser un commentaire",
    "Akismet",
    "En savoir plus sur comment",
    "Crédit photo",
    "date 2025",
    "date 2022",
    "Partager :",
    "Share this",
    "Like this:",
    "Leave a Reply",
    "Cancel reply",
    "ne sera pas publiée",
    "Related posts",
    "Tous droits réservés",
];

/// The seed articles shipped in `examples/articles`.
fn seeds_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    assert!(
        dir.join("000_d959af5fb98b9205.txt").is_file(),
        "the seed articles are missing from {}",
        dir.display()
    );
    dir
}

fn one(bytes: &[u8], format: Format) -> (Article, Vec<FileReport>) {
    let (mut articles, reports) = parse_bytes("a", Path::new("a"), format, bytes);
    assert_eq!(articles.len(), 1, "{reports:?}");
    (articles.remove(0), reports)
}

fn block_texts(a: &Article) -> Vec<&str> {
    a.block_texts().collect()
}

fn assert_blocks_valid(a: &Article) {
    let mut prev = 0;
    for b in &a.blocks {
        assert!(b.start >= prev && b.start < b.end && b.end <= a.text.len(), "{b:?}");
        assert!(a.text.is_char_boundary(b.start) && a.text.is_char_boundary(b.end));
        prev = b.end;
    }
}

#[test]
fn seed_articles() {
    let dir = seeds_dir();
    let found = discover(std::slice::from_ref(&dir)).unwrap();
    assert!(found.len() >= 5);
    for (root, file) in &found {
        let (articles, reports) = read_file(root, file);
        assert!(reports.is_empty(), "{reports:?}");
        assert_eq!(articles.len(), 1);
        let a = &articles[0];
        assert_blocks_valid(a);
        assert_eq!(a.lang.as_deref(), Some("fr"), "{}", a.id);
        assert_eq!(a.format, Format::Txt);
        assert_eq!(a.line_base, 1);
        let raw = fs::read(file).unwrap();
        assert_eq!(a.hash, sha256_hex(&raw));
        assert_eq!(
            a.text.matches('\n').count(),
            raw.iter().filter(|&&b| b == b'\n').count()
        );
        for block in a.block_texts() {
            for f in FURNITURE {
                assert!(!block.contains(f), "{}: block {block:?} contains {f:?}", a.id);
            }
        }
        let body: usize = a.blocks.iter().map(|b| b.len()).sum();
        assert!(body * 10 > a.text.len() * 8, "{}: too much text dropped", a.id);

        let blocks = block_texts(a);
        match a.id.as_str() {
            "000_d959af5fb98b9205.txt" => {
                assert_eq!(
                    a.title.as_deref(),
                    Some("Huawei se fait épauler par IBM pour le branding")
                );
                assert_eq!(a.date, None);
                assert!(
                    blocks[0].starts_with("Huawei veut tripler"),
                    "rubric kept: {:?}",
                    blocks[0]
                );
                assert!(blocks.last().unwrap().ends_with("en 2009)."));
            }
            "001_b6d142304a9bfd89.txt" => {
                assert_eq!(a.title, None);
                assert_eq!(a.date.as_deref(), Some("2025-04"));
                assert!(blocks[0].starts_with("La Huawei European Partner Conference"));
            }
            "002_4f97e5b5d50801a1.txt" => {
                assert_eq!(a.title, None);
                assert_eq!(a.date.as_deref(), Some("2022-10"));
                assert!(blocks[0].starts_with("Huawei ne compte pas"));
                assert!(blocks.contains(&"Huawei cible les grandes entreprises comme les PME"));
                assert!(blocks.contains(&"Capitaliser sur l'expérience acquise en Chine"));
            }
            "003_addd67ec89a263f6.txt" => {
                assert_eq!(
                    a.title.as_deref(),
                    Some("Plus de 260 demandes pour travailler avec Huawei !")
                );
                assert!(blocks[0].starts_with("L’état américain"));
                assert!(blocks.contains(&"Plus de 260 demandes auprès de la chambre de commerce US."));
                assert!(blocks.contains(&"Des demandes que la chambre de commerce va suivre."));
                assert!(blocks.last().unwrap().ends_with("sans devoir chipoter."));
            }
            "004_d70e093277a21062.txt" => {
                assert_eq!(a.title, None);
                assert_eq!(blocks.len(), 6);
                assert!(blocks.last().unwrap().ends_with("indiquent les deux groupes."));
            }
            _ => {}
        }
    }
}

#[test]
fn seeds_chunk_cleanly() {
    use crate::chunk::{ChunkerConfig, WhitespaceCounter, chunk_article};
    let dir = seeds_dir();
    for (root, file) in discover(&[dir]).unwrap() {
        let (articles, _) = read_file(&root, &file);
        let cfg = ChunkerConfig {
            max_tokens: 60,
            overlap_sentences: 1,
        };
        let chunks = chunk_article(&articles[0], &cfg, &WhitespaceCounter);
        assert!(!chunks.is_empty());
        for c in &chunks {
            assert!(c.text.split_whitespace().count() <= 60);
            assert!(!c.text.contains("Lire aussi") && !c.text.contains("Akismet"));
        }
    }
}

#[test]
fn plain_text_with_crlf_and_bom() {
    let (a, reports) = one(
        b"\xEF\xBB\xBFLe titre\r\n\r\nLe corps du texte.\r\nDeuxi\xC3\xA8me ligne.",
        Format::Txt,
    );
    assert!(reports.is_empty());
    assert_eq!(a.text, "Le titre\n\nLe corps du texte.\nDeuxième ligne.");
    assert_eq!(a.title.as_deref(), Some("Le titre"));
    assert_eq!(block_texts(&a), vec!["Le corps du texte.", "Deuxième ligne."]);
}

#[test]
fn windows_1252_is_decoded_with_a_warning() {
    let (a, reports) = one(b"Le caf\xE9 est servi \x96 d\xE9j\xE0 \x80 5.\n", Format::Txt);
    assert_eq!(a.text, "Le café est servi – déjà € 5.\n");
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].problem,
        Problem::NotUtf8Decoded {
            encoding: "windows-1252"
        }
    );
    assert!(!reports[0].problem.is_skip());
    // Mostly UTF-8 with one stray byte: keep UTF-8, replace the byte.
    let (a, reports) = one(
        "Déjà été à Noël \u{e9}t\u{e9}"
            .as_bytes()
            .iter()
            .copied()
            .chain(*b" \xFF fin.")
            .collect::<Vec<_>>()
            .as_slice(),
        Format::Txt,
    );
    assert!(a.text.contains("Déjà été") && a.text.contains('\u{fffd}'));
    assert!(matches!(reports[0].problem, Problem::NotUtf8Decoded { .. }));
}

#[test]
fn utf16_with_bom() {
    let mut bytes = vec![0xFF, 0xFE];
    for u in "Titre\n\nCorps du texte en UTF-16.".encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    let (a, reports) = one(&bytes, Format::Txt);
    assert!(reports.is_empty());
    assert_eq!(block_texts(&a), vec!["Corps du texte en UTF-16."]);
}

#[test]
fn skipped_files() {
    let skip = |bytes: &[u8]| {
        let (articles, reports) = parse_bytes("a", Path::new("a.txt"), Format::Txt, bytes);
        assert!(articles.is_empty());
        reports.into_iter().map(|r| r.problem).collect::<Vec<_>>()
    };
    assert_eq!(skip(b""), vec![Problem::Empty]);
    assert_eq!(skip(b" \n\t\n"), vec![Problem::Empty]);
    assert_eq!(skip("\u{a0}\n".as_bytes()), vec![Problem::Empty]);
    assert_eq!(skip(b"PK\x03\x04\x00\x00binary"), vec![Problem::Binary]);
    assert_eq!(skip(b"\x01\x02\x03\x04\x05abc"), vec![Problem::Binary]);
    assert_eq!(
        skip(b"Partager :\n\nPublicit\xC3\xA9\n"),
        vec![Problem::NoBody { line: None }]
    );
}

#[test]
fn jsonl_records() {
    let src = concat!(
        "{\"id\": \"a1\", \"title\": \"Premier\", \"text\": \"Premier\\n\\nLe corps du premier article.\", \"date\": \"2024-02-03T10:00:00Z\", \"lang\": \"fr-FR\", \"url\": \"https://ex.fr/1\"}\n",
        "\n",
        "{\"text\": \"Second article sans identifiant, en français.\"}\n",
        "{not json}\n",
        "{\"title\": \"Sans texte\"}\n",
        "{\"text\": \"   \"}\n",
        "[1, 2]\n",
        "{\"id\": \"a1\", \"text\": \"Identifiant en double.\"}\n",
        "{\"id\": 42, \"text\": \"Identifiant numérique.\"}\r\n",
    );
    let (articles, reports) = parse_bytes("news.jsonl", Path::new("news.jsonl"), Format::Jsonl, src.as_bytes());
    let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["news.jsonl#a1", "news.jsonl#3", "news.jsonl#8", "news.jsonl#42"]
    );
    let a = &articles[0];
    assert_eq!(a.title.as_deref(), Some("Premier"));
    assert_eq!(a.date.as_deref(), Some("2024-02-03"));
    assert_eq!(a.lang.as_deref(), Some("fr"));
    assert_eq!(a.url.as_deref(), Some("https://ex.fr/1"));
    assert_eq!(block_texts(a), vec!["Le corps du premier article."]);
    assert_eq!(a.line_base, 1);
    assert_eq!(a.format, Format::Jsonl);
    assert_eq!(a.hash, sha256_hex(src.lines().next().unwrap().as_bytes()));
    assert_eq!(articles[1].line_base, 3);
    assert_eq!(
        articles[3].hash,
        sha256_hex(b"{\"id\": 42, \"text\": \"Identifiant num\xC3\xA9rique.\"}")
    );
    let lines: Vec<(Option<u32>, bool)> = reports
        .iter()
        .map(|r| (r.problem.line(), r.problem.is_skip()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (Some(4), true),
            (Some(5), true),
            (Some(6), true),
            (Some(7), true),
            (Some(8), false)
        ]
    );
    let shown = reports[0].to_string();
    assert!(
        shown.starts_with("news.jsonl:4: malformed JSONL record (invalid JSON"),
        "{shown}"
    );
}

/// Known fields of the wrong type are dropped with a warning naming the line; a year given as
/// a number is a date; `null` is as good as absent; unknown fields are ignored.
#[test]
fn jsonl_fields_of_other_types() {
    let src = concat!(
        "{\"id\": \"a\", \"date\": 2024, \"title\": null, \"text\": \"Un article daté d'une année seulement.\", \"extra\": {\"x\": [1, 2]}}\n",
        "{\"id\": \"b\", \"date\": 123456, \"title\": 12, \"lang\": [\"fr\"], \"url\": false, \"text\": \"Un autre article, lui aussi en français.\"}\n",
        "{\"id\": true, \"date\": 2023.5, \"text\": \"Un troisième article.\"}\n",
    );
    let (articles, reports) = parse_bytes("n.jsonl", Path::new("n.jsonl"), Format::Jsonl, src.as_bytes());
    let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["n.jsonl#a", "n.jsonl#b", "n.jsonl#3"]);
    assert_eq!(articles[0].date.as_deref(), Some("2024"));
    assert_eq!(articles[0].title, None);
    assert_eq!(articles[1].date, None);
    assert_eq!(articles[1].title, None);
    assert_eq!(articles[1].url, None);
    let shown: Vec<String> = reports.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "n.jsonl:2: field `date` ignored (the number 123456 is not a year); the record is still read",
            "n.jsonl:2: field `title` ignored (expected a string, found a number); the record is still read",
            "n.jsonl:2: field `lang` ignored (expected a string, found an array); the record is still read",
            "n.jsonl:2: field `url` ignored (expected a string, found a boolean); the record is still read",
            "n.jsonl:3: field `id` ignored (expected a string, found a boolean); the record is still read",
            "n.jsonl:3: field `date` ignored (the number 2023.5 is not a year); the record is still read",
        ]
    );
    assert!(reports.iter().all(|r| !r.problem.is_skip()));
}

/// Entities beyond Latin-1 (html5ever knows all of HTML5's) reach the blocks decoded.
#[test]
fn html_entities_are_all_decoded() {
    let src = "<html><body><p>L&rsquo;&OElig;uvre &eacute;tait l&agrave;&nbsp;: &laquo;&nbsp;x &NotEqualTilde; y&nbsp;&raquo;&hellip;</p></body></html>";
    let (a, _) = one(src.as_bytes(), Format::Html);
    assert_eq!(
        block_texts(&a),
        vec!["L’Œuvre était là\u{a0}: «\u{a0}x \u{2242}\u{338} y\u{a0}»…"]
    );
}

#[test]
fn html_page() {
    let src = r#"<!DOCTYPE html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <title>Huawei et IBM - Le Journal</title>
  <link rel="canonical" href="https://journal.example/huawei-ibm">
  <meta name="date" content="2019-10-02">
</head>
<body>
<header class="site-header"><a href="/">Le Journal</a></header>
<nav><a href="/tech">Tech</a></nav>
<article>
  <h1>Huawei et IBM</h1>
  <p>Huawei a d&eacute;cid&eacute; d&rsquo;&eacute;tendre ses relations avec IBM en lui confiant une mission de conseil.</p>
  <p>Le contrat a &eacute;t&eacute; r&eacute;v&eacute;l&eacute; par Ross Gan, porte-parole du groupe chinois.</p>
  <p>Lire aussi :</p>
  <p><a href="/x">Xiaomi rach&egrave;te des brevets &agrave; Nokia</a></p>
  <p>Publicit&eacute;</p>
  <p>IBM a &eacute;galement confirm&eacute; l&rsquo;information.</p>
  <div class="sharedaddy"><h3>Partager :</h3><ul><li>Twitter</li><li>Facebook</li></ul></div>
  <div id="comments"><h3>Laisser un commentaire</h3><form><textarea></textarea></form></div>
</article>
<aside>Articles populaires</aside>
<footer>&copy; 2019 Le Journal &ndash; Tous droits r&eacute;serv&eacute;s</footer>
<script>document.write("<p>Publicité</p>")</script>
</body>
</html>
"#;
    let (a, reports) = one(src.as_bytes(), Format::Html);
    assert!(reports.is_empty());
    assert_blocks_valid(&a);
    assert_eq!(a.title.as_deref(), Some("Huawei et IBM"));
    assert_eq!(a.date.as_deref(), Some("2019-10-02"));
    assert_eq!(a.url.as_deref(), Some("https://journal.example/huawei-ibm"));
    assert_eq!(a.lang.as_deref(), Some("fr"));
    let blocks = block_texts(&a);
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert!(blocks[0].starts_with("Huawei a décidé d’étendre"));
    assert_eq!(blocks[2], "IBM a également confirmé l’information.");
    // Source lines survive extraction.
    let line = a.text[..a.text.find("Le contrat").unwrap()].matches('\n').count() + 1;
    assert_eq!(
        line,
        src[..src.find("<p>Le contrat").unwrap()].matches('\n').count() + 1
    );
}

#[test]
fn html_in_latin1_uses_declared_charset() {
    let src = b"<html><head><meta charset=\"iso-8859-1\"></head><body><p>Caf\xE9 cr\xE8me et th\xE9 glac\xE9.</p></body></html>";
    let (a, reports) = one(src, Format::Html);
    assert_eq!(block_texts(&a), vec!["Café crème et thé glacé."]);
    assert!(matches!(reports[0].problem, Problem::NotUtf8Decoded { .. }));
}

#[test]
fn markdown_article() {
    let src = "---\ntitle: Huawei et IBM\ndate: 2019-10-02\nurl: https://ex.fr/a\n---\n\n# Huawei et IBM\n\nHuawei a décidé d'étendre ses relations avec IBM.\n\n## Contexte\n\n- Huawei est un fabricant chinois.\n- IBM est américain.\n\nCrédit photo : AFP\n";
    let (a, _) = one(src.as_bytes(), Format::Markdown);
    assert_eq!(a.title.as_deref(), Some("Huawei et IBM"));
    assert_eq!(a.date.as_deref(), Some("2019-10-02"));
    assert_eq!(a.url.as_deref(), Some("https://ex.fr/a"));
    assert_eq!(
        block_texts(&a),
        vec![
            "Huawei a décidé d'étendre ses relations avec IBM.",
            "Contexte",
            "Huawei est un fabricant chinois.",
            "IBM est américain."
        ]
    );
}

/// Inline markup never reaches the blocks: emphasis markers and link targets are gone, link
/// and code text stay, and every line of text is the visible text of its source line.
#[test]
fn markdown_inline_markup_is_visible_text_only() {
    let src = "---\ntitle: Le titre\n---\n# Le titre\n\nUn texte en **gras**, en *italique* et un [lien](http://x) vers `du_code`.\nSuite de la phrase ~~barrée~~ avec ![une image](img.png) au milieu.\n\n> Une citation **forte**.\n\n1. Premier point [réf][1]\n2. Second point\n\n```\nlet x = **y**;\n```\n\n[1]: http://ref.example\n";
    let (a, _) = one(src.as_bytes(), Format::Markdown);
    assert_eq!(a.title.as_deref(), Some("Le titre"));
    assert_eq!(
        block_texts(&a),
        vec![
            "Un texte en gras, en italique et un lien vers du_code.",
            "Suite de la phrase barrée avec  au milieu.",
            "Une citation forte.",
            "Premier point réf",
            "Second point",
            "let x = **y**;",
        ]
    );
    // Line for line with the source: a citation's lines point at the words it quotes.
    assert_eq!(a.text.matches('\n').count(), src.matches('\n').count());
    let src_lines: Vec<&str> = src.split('\n').collect();
    for (i, line) in a.text.split('\n').enumerate() {
        for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            assert!(
                src_lines[i].contains(word),
                "line {}: {word:?} not in {:?}",
                i + 1,
                src_lines[i]
            );
        }
    }
    use crate::chunk::{ChunkerConfig, WhitespaceCounter, chunk_article};
    let chunks = chunk_article(&a, &ChunkerConfig::default(), &WhitespaceCounter);
    for c in &chunks {
        assert!(!c.text.contains("**gras") && !c.text.contains("http://x") && !c.text.contains("img.png"));
        let cited = src_lines[c.line_start as usize - 1..c.line_end as usize].join("\n");
        for word in c.text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            assert!(
                cited.contains(word),
                "{word:?} not in lines {}-{}",
                c.line_start,
                c.line_end
            );
        }
    }
}

#[test]
fn discovery_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("b/sub")).unwrap();
    fs::create_dir_all(root.join(".hidden")).unwrap();
    for f in [
        "a.txt",
        "b/sub/c.MD",
        "b/d.html",
        "b/e.jsonl",
        "b/skip.pdf",
        ".secret.txt",
        ".hidden/x.txt",
        "z.htm",
        "y.markdown",
    ] {
        fs::write(root.join(f), "Texte.").unwrap();
    }
    let found = discover(&[root.to_path_buf()]).unwrap();
    let ids: Vec<String> = found.iter().map(|(r, f)| relative_id(r, f)).collect();
    assert_eq!(
        ids,
        vec!["a.txt", "b/d.html", "b/e.jsonl", "b/sub/c.MD", "y.markdown", "z.htm"]
    );
    assert!(found.iter().all(|(r, _)| r == root));

    // A file given directly: its folder is the root; duplicates are dropped.
    let direct = root.join("b/d.html");
    let found = discover(&[direct.clone(), root.to_path_buf()]).unwrap();
    assert_eq!(found[0], (root.join("b"), direct.clone()));
    assert_eq!(found.len(), 6);
    assert_eq!(relative_id(&found[0].0, &found[0].1), "d.html");

    let missing = discover(&[root.join("nope")]).unwrap_err().to_string();
    assert!(
        missing.contains("nope") && missing.contains("does not exist"),
        "{missing}"
    );

    assert_eq!(relative_id(Path::new("."), Path::new("a.txt")), "a.txt");
    assert_eq!(relative_id(Path::new("."), Path::new("./x/a.txt")), "x/a.txt");
    assert_eq!(relative_id(Path::new("/other"), Path::new("/data/a.txt")), "data/a.txt");
}

#[test]
fn read_file_reports() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (articles, reports) = read_file(root, &root.join("missing.txt"));
    assert!(articles.is_empty());
    assert!(matches!(reports[0].problem, Problem::Unreadable(_)));
    assert!(reports[0].to_string().contains("missing.txt"));
    let (_, reports) = read_file(root, &root.join("doc.pdf"));
    assert_eq!(reports[0].problem, Problem::Unsupported);
    fs::write(root.join("ok.txt"), "Titre\n\nUn corps.").unwrap();
    let (articles, reports) = read_file(root, &root.join("ok.txt"));
    assert!(reports.is_empty());
    assert_eq!(articles[0].id, "ok.txt");
    assert_eq!(articles[0].source_path, root.join("ok.txt"));
}

#[test]
fn report_display() {
    let r = FileReport {
        path: PathBuf::from("dir/f.jsonl"),
        problem: Problem::MalformedJsonl {
            line: 12,
            detail: "missing `text` field".into(),
        },
    };
    assert_eq!(
        r.to_string(),
        "dir/f.jsonl:12: malformed JSONL record (missing `text` field), line skipped"
    );
    let r = FileReport {
        path: PathBuf::from("f.bin"),
        problem: Problem::Binary,
    };
    assert_eq!(r.to_string(), "f.bin: looks like a binary file, skipped");
    let dup = Problem::DuplicateArticle { id: "a.txt".into() };
    assert!(dup.is_skip() && dup.to_string().contains("a.txt"));
    assert!(
        !Problem::DuplicateId {
            line: 3,
            id: "x".into()
        }
        .is_skip()
    );
}

fn check_article(a: &Article) -> Result<(), TestCaseError> {
    let mut prev = 0;
    for b in &a.blocks {
        prop_assert!(b.start >= prev && b.start < b.end && b.end <= a.text.len());
        prop_assert!(a.text.is_char_boundary(b.start) && a.text.is_char_boundary(b.end));
        prop_assert!(!a.text[b.clone()].trim().is_empty());
        prev = b.end;
    }
    Ok(())
}

fn formats() -> impl Strategy<Value = Format> {
    prop::sample::select(vec![Format::Txt, Format::Markdown, Format::Html, Format::Jsonl])
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "<p>",
            "</p>",
            "<div class=\"share\">",
            "</div>",
            "<script>",
            "</script>",
            "<!--",
            "-->",
            "&eacute;",
            "&#233;",
            "&#x",
            "&",
            "<",
            ">",
            "\n",
            "\n\n",
            "Lire aussi :",
            "Partager :",
            " date 2025-04 ",
            "# ",
            "---\n",
            "```",
            "«\u{a0}",
            "\u{a0}»",
            "{\"text\": \"",
            "\"}",
            "é",
            "😀",
            "\r\n",
            "<h1>",
            "</h1>",
            "<title>",
            "<nav>",
            "<br/>",
            "Laisser un commentaire",
            "&hellip;",
            "&NotEqualTilde;",
            "&#27;",
            "&nbsp",
            "<meta property=\"og:title\" content=\"&eacute;\">",
            "<textarea>",
            "<style>",
            "{\"date\": 2024, \"title\": null, \"text\": \"",
            "{\"date\": [1], \"id\": 1.5, \"lang\": {}, \"text\": \"",
            "**",
            "[lien](http://x)",
            "`",
            "![img](a.png)",
            "> ",
            "- ",
            "    ",
        ])
        .prop_map(str::to_string),
        "[A-Za-zéà .,;:!?']{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::test_support::fuzz_cases(300)))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), format in formats()) {
        let (articles, _) = parse_bytes("x", Path::new("x"), format, &bytes);
        for a in &articles {
            check_article(a)?;
        }
    }

    #[test]
    fn structured_noise_never_panics(parts in prop::collection::vec(fragment(), 0..60), format in formats()) {
        let src = parts.concat();
        let (articles, _) = parse_bytes("x", Path::new("x"), format, src.as_bytes());
        for a in &articles {
            check_article(a)?;
            if format != Format::Html && format != Format::Jsonl {
                // Plain formats keep the source text, so line numbers hold.
                prop_assert_eq!(a.text.matches('\n').count(), src.replace("\r\n", "\n").matches('\n').count());
            }
        }
    }
}

#[test]
fn html_teaser_list_and_char_refs() {
    let src = "<html><body><article>\n<p>Premier paragraphe de l&#39;article, avec du contenu.</p>\n<p>Lire aussi :</p>\n<ul>\n<li><a href=\"/a\">Un autre article</a></li>\n<li><a href=\"/b\">Encore un autre</a></li>\n</ul>\n<p>Suite&#10;du texte, toujours du contenu r&eacute;el.</p>\n</article></body></html>\n";
    let (a, _) = one(src.as_bytes(), Format::Html);
    assert_eq!(
        block_texts(&a),
        vec![
            "Premier paragraphe de l'article, avec du contenu.",
            "Suite du texte, toujours du contenu réel."
        ]
    );
    let line = a.text[..a.text.find("Suite").unwrap()].matches('\n').count() + 1;
    assert_eq!(line, 8);
}

const NOISE: &[&str] = &[
    "Lire aussi :",
    "Partager :",
    "Publicité",
    "Crédit photo : AFP",
    "Share this:",
    "Like this:",
    "Cancel reply",
    "Votre adresse e-mail ne sera pas publiée.",
    "Related posts",
    "Subscribe",
    "© 2024 Le Journal. Tous droits réservés",
    "Ce site utilise Akismet pour réduire les indésirables.",
    "Nous utilisons des cookies pour améliorer votre expérience.",
    "Tags : Huawei, IBM",
];

fn content_paragraph() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            "[A-ZÉ][a-zéèàçô]{2,9}",
            prop::collection::vec("[a-zéèàçôœ]{1,12}", 11..30),
        ),
        1..4,
    )
    .prop_map(|sentences| {
        sentences
            .into_iter()
            .map(|(first, rest)| format!("{first} {}.", rest.join(" ")))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// Furniture interleaved with prose: blocks are exactly the prose paragraphs.
    #[test]
    fn furniture_is_removed_and_prose_kept(
        items in prop::collection::vec(
            prop_oneof![3 => content_paragraph().prop_map(Ok), 1 => prop::sample::select(NOISE).prop_map(Err)],
            1..12,
        ),
        tight in any::<bool>(),
        format in prop::sample::select(vec![Format::Txt, Format::Markdown, Format::Html]),
    ) {
        let expected: Vec<&str> = items.iter().filter_map(|i| i.as_ref().ok().map(String::as_str)).collect();
        let parts: Vec<String> = items
            .iter()
            .map(|i| {
                let t = match i { Ok(p) => p.as_str(), Err(n) => n };
                if format == Format::Html { format!("<p>{t}</p>") } else { t.to_string() }
            })
            .collect();
        let src = parts.join(if tight { "\n" } else { "\n\n" });
        let (articles, reports) = parse_bytes("x", Path::new("x"), format, src.as_bytes());
        if expected.is_empty() {
            prop_assert!(articles.is_empty());
            prop_assert_eq!(&reports[0].problem, &Problem::NoBody { line: None });
        } else {
            prop_assert_eq!(articles.len(), 1);
            prop_assert_eq!(block_texts(&articles[0]), expected);
        }
    }
}

/// The walk follows links inside the folder once, survives a link back up, keeps a dangling
/// supported file for `read_file` to report, and skips hidden entries and other types.
#[cfg(unix)]
#[test]
fn discover_walks_links_loops_and_hidden_entries() {
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("docs");
    let outside = t.path().join("outside");
    for d in [root.join("sub"), root.join(".hidden"), outside.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    for f in [
        root.join("a.txt"),
        root.join("sub/b.md"),
        root.join(".hidden/c.txt"),
        root.join(".d.txt"),
        root.join("notes.pdf"),
        outside.join("e.txt"),
    ] {
        std::fs::write(f, "Un texte.").unwrap();
    }
    symlink(&root, root.join("sub/up")).unwrap();
    symlink(root.join("gone.txt"), root.join("dangling.txt")).unwrap();
    symlink(&outside, root.join("linked")).unwrap();
    let ids = |follow: bool| {
        let d = discover_with(std::slice::from_ref(&root), follow).unwrap();
        let files: Vec<String> = d.files.iter().map(|(r, f)| relative_id(r, f)).collect();
        (files, d.skipped)
    };
    // A link out of the folder is not followed by default, and is reported.
    let (files, skipped) = ids(false);
    assert_eq!(files, ["a.txt", "dangling.txt", "sub/b.md"]);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].path, root.join("linked"));
    assert!(
        skipped[0].to_string().contains("outside the ingested folder"),
        "{}",
        skipped[0]
    );
    let (files, skipped) = ids(true);
    assert_eq!(files, ["a.txt", "dangling.txt", "linked/e.txt", "sub/b.md"]);
    assert!(skipped.is_empty());
}

/// The checked-in fuzz corpus (`tests/fuzz-corpus`, see its README): every file through every
/// parser, whatever its extension, and every article through the chunker at a tiny, a small
/// and the default budget. Nothing may panic; blocks and chunks are byte spans on char
/// boundaries inside the text; chunk lines are ordered and inside the file; reported lines
/// are lines of the file.
#[test]
fn fuzz_corpus_through_every_parser_and_the_chunker() {
    use crate::chunk::{ChunkerConfig, WhitespaceCounter, chunk_article};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the fuzz corpus is missing from {}", dir.display());
    let mut articles_seen = 0;
    for file in &files {
        let bytes = fs::read(file).unwrap();
        // Lines as the file has them: decoded (UTF-16 has 0x0a inside other characters), CRLF
        // counted once, a lone CR not a line break (as the parsers treat it).
        let file_lines = match decode(&bytes, Format::Txt) {
            Ok((text, _)) => text.matches('\n').count() as u32 + 1,
            Err(_) => bytes.iter().filter(|&&b| b == b'\n').count() as u32 + 1,
        };
        for format in [Format::Txt, Format::Markdown, Format::Html, Format::Jsonl] {
            let what = format!("{} as {format}", file.display());
            let (articles, reports) = parse_bytes("x", file, format, &bytes);
            for r in &reports {
                if let Some(line) = r.problem.line() {
                    assert!((1..=file_lines).contains(&line), "{what}: {r}");
                }
            }
            for a in &articles {
                articles_seen += 1;
                assert_blocks_valid(a);
                assert!(
                    a.line_base >= 1 && a.line_base <= file_lines,
                    "{what}: line base {}",
                    a.line_base
                );
                for max_tokens in [1, 7, 256] {
                    let cfg = ChunkerConfig {
                        max_tokens,
                        overlap_sentences: 1,
                    };
                    let chunks = chunk_article(a, &cfg, &WhitespaceCounter);
                    assert!(!chunks.is_empty(), "{what}: an article with blocks gave no chunk");
                    let mut prev = (0, 0);
                    for (i, c) in chunks.iter().enumerate() {
                        assert_eq!(c.ordinal as usize, i, "{what}");
                        assert!(c.start < c.end && c.end <= a.text.len(), "{what}: {c:?}");
                        assert!(
                            a.text.is_char_boundary(c.start) && a.text.is_char_boundary(c.end),
                            "{what}: {c:?}"
                        );
                        assert!(c.start >= prev.0, "{what}: chunks out of order");
                        assert!(
                            1 <= c.line_start && c.line_start <= c.line_end && c.line_end <= file_lines,
                            "{what}: lines {}-{} of a {file_lines}-line file",
                            c.line_start,
                            c.line_end
                        );
                        assert!(c.line_start >= prev.1, "{what}: lines out of order");
                        prev = (c.start, c.line_start);
                    }
                }
            }
        }
    }
    assert!(
        articles_seen > 50,
        "the corpus should also produce articles ({articles_seen})"
    );
}

/// Chunk lines stay on the lines the article comes from: a JSONL record whose text holds
/// `\n`s is cited on its own line, a minified page on its one line.
#[test]
fn chunk_lines_stay_inside_the_source() {
    use crate::chunk::{ChunkerConfig, WhitespaceCounter, chunk_article};
    let cfg = ChunkerConfig {
        max_tokens: 4,
        overlap_sentences: 0,
    };
    let jsonl = "{\"text\": \"Un.\"}\n{\"title\": \"Titre\", \"text\": \"Le premier paragraphe est ici.\\n\\nLe deuxième paragraphe est là.\\n\\nLe troisième paragraphe suit.\"}\n";
    let (articles, _) = parse_bytes("r.jsonl", Path::new("r.jsonl"), Format::Jsonl, jsonl.as_bytes());
    let chunks = chunk_article(&articles[1], &cfg, &WhitespaceCounter);
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert!(
        chunks.iter().all(|c| (c.line_start, c.line_end) == (2, 2)),
        "{chunks:?}"
    );
    let page: String = (0..20).map(|i| format!("<p>Paragraphe {i} du texte.</p>")).collect();
    let (articles, _) = parse_bytes("p.html", Path::new("p.html"), Format::Html, page.as_bytes());
    let chunks = chunk_article(&articles[0], &cfg, &WhitespaceCounter);
    assert!(chunks.len() >= 10, "{chunks:?}");
    assert!(
        chunks.iter().all(|c| (c.line_start, c.line_end) == (1, 1)),
        "{chunks:?}"
    );
}

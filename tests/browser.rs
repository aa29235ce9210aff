//! The web page in a real headless Chromium, driven over WebDriver (fantoccini), on a server
//! running the real model over the bundled articles plus one hostile article: ask and read
//! the answer, open a citation and see the highlighted sentence, an abstention, a search,
//! and an article whose text holds `<script>` and `<img onerror>` that must never run.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`), which
//! `.ci/run` installs; it runs this test with `--ignored`. Run by hand:
//! `cargo test --release --test browser -- --ignored`. With `SOURCIER_UPDATE_SCREENSHOTS=1`
//! it rewrites the README's screenshots in `docs/img/`.

mod util;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use util::{Server, copy_dir, ok, root, sourcier};

const HOSTILE: &str = "Le cirque Zavatta installe son chapiteau à Grenoble pour trois semaines de spectacles.\n\n\
Le programme annonce <script>window.__pwned = 1</script> des acrobates et <img src=x onerror=\"window.__pwned = 2\"> des clowns venus de Lyon.\n";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_tool(names: &[&str]) -> PathBuf {
    for n in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
            let p = Path::new(dir).join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("none of {names:?} is installed: `apt-get install chromium chromium-driver` (.ci/run does it)");
}

fn start_driver() -> (Driver, String) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(find_tool(&["chromedriver"]))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Driver(child), url)
}

async fn browser(driver: &str, width: u32, height: u32) -> Client {
    let caps = json!({
        "goog:chromeOptions": {
            "binary": find_tool(&["chromium", "chromium-browser"]),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}"), "--lang=fr-FR"],
            "prefs": {"intl.accept_languages": "fr-FR,fr"}
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("connecting to chromedriver")
}

fn shots_dir() -> PathBuf {
    if std::env::var_os("SOURCIER_UPDATE_SCREENSHOTS").is_some() {
        root().join("docs/img")
    } else {
        std::env::temp_dir().join("sourcier-screenshots")
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let dir = shots_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
}

async fn js_bool(c: &Client, script: &str) -> bool {
    c.execute(script, vec![]).await.unwrap().as_bool().unwrap_or(false)
}

async fn ask(c: &Client, question: &str) {
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.clear().await.unwrap();
    // Enter submits: the keyboard alone drives the page.
    q.send_keys(&format!("{question}\u{E007}")).await.unwrap();
}

#[test]
#[ignore = "needs Chromium and ChromeDriver; .ci/run installs them and runs this with --ignored"]
fn the_page_answers_cites_abstains_and_never_runs_article_script() {
    let t = tempfile::tempdir().unwrap();
    let articles = t.path().join("articles");
    copy_dir(&root().join("examples/articles"), &articles);
    std::fs::write(articles.join("zz_cirque.txt"), HOSTILE).unwrap();
    let idx = t.path().join("index");
    ok(sourcier(&idx).arg("ingest").arg(&articles).arg("--quiet"));
    let mut cmd = sourcier(&idx);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--quiet"]);
    let server = Server::spawn(cmd);
    let (_driver, driver_url) = start_driver();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(&driver_url, 1280, 860).await;
        c.goto(&format!("{}/", server.url)).await.unwrap();
        // French browser, French interface.
        let go = wait_css(&c, "#go").await;
        assert_eq!(go.text().await.unwrap(), "Demander");

        // The bundled question: an answer holding the fact, with citations.
        ask(&c, "Combien de consultants IBM envoie-t-il chez Huawei ?").await;
        let answer = wait_css(&c, "[data-testid=answer]").await;
        let text = answer.text().await.unwrap();
        assert!(text.contains("25 consultants"), "answer without the fact: {text}");
        // The fact is bold inside its sentence.
        let fact = wait_css(&c, "[data-testid=answer] strong.fact").await;
        let fact = fact.text().await.unwrap();
        assert!(fact.contains("25"), "the bold fact is {fact:?}");
        assert!(
            text.contains(&fact),
            "the bold fact {fact:?} is not in the answer {text}"
        );
        assert!(!c.find_all(Locator::Css("#sources li")).await.unwrap().is_empty());
        screenshot(&c, "answer.png").await;

        // [1] opens the article with the cited sentence highlighted and in view.
        let sentence: String = c
            .execute("return document.querySelector('.sentence').textContent", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        c.find(Locator::Css(".cite[data-n='1']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let mark = wait_css(&c, "#article mark[data-testid=highlight]").await;
        assert!(mark.is_displayed().await.unwrap());
        let marked: String = c
            .execute(
                "return [...document.querySelectorAll('#article mark')].map(m => m.textContent).join(' ')",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squash(&marked),
            squash(&sentence),
            "the highlight is the cited sentence"
        );
        assert!(
            js_bool(
                &c,
                "const r = document.querySelector('#article mark').getBoundingClientRect(); \
                 const p = document.querySelector('#article').getBoundingClientRect(); \
                 return r.top >= Math.max(0, p.top) && r.bottom <= Math.min(innerHeight, p.bottom);"
            )
            .await,
            "the highlighted sentence is scrolled into view"
        );
        screenshot(&c, "citation.png").await;

        // Escape closes the viewer.
        c.find(Locator::Id("article"))
            .await
            .unwrap()
            .send_keys("\u{E00C}")
            .await
            .unwrap();
        assert!(js_bool(&c, "return document.getElementById('article').hidden").await);

        // Off-topic: an abstention that reads as one, in French, with the passages considered.
        ask(&c, "Quelle est la recette de la tarte Tatin ?").await;
        let abst = wait_css(&c, "[data-testid=abstention]").await;
        assert!(abst.text().await.unwrap().starts_with("Je n'ai pas"));
        assert!(!c.find_all(Locator::Css("#sources li")).await.unwrap().is_empty());

        // Search, then open the hostile article: its markup shows as text and never runs.
        c.find(Locator::Id("tab-search")).await.unwrap().click().await.unwrap();
        ask(&c, "cirque Zavatta chapiteau Grenoble").await;
        wait_css(&c, "#hits li .source").await.click().await.unwrap();
        wait_css(&c, "#article mark").await;
        let body = c.find(Locator::Id("article-body")).await.unwrap().text().await.unwrap();
        assert!(body.contains("<script>window.__pwned = 1</script>"), "{body}");
        assert!(body.contains("onerror"), "{body}");
        assert!(
            js_bool(&c, "return window.__pwned === undefined").await,
            "article script ran"
        );
        assert!(
            js_bool(
                &c,
                "return document.querySelectorAll('#article-body script, #article-body img').length === 0"
            )
            .await
        );
        // Written by the local model, streamed: the page shows a cited, checked answer.
        c.find(Locator::Id("tab-ask")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("generate")).await.unwrap().click().await.unwrap();
        ask(&c, "Combien de consultants IBM envoie-t-il chez Huawei ?").await;
        let answer = wait_css(&c, "[data-testid=answer] .cite").await;
        assert!(answer.is_displayed().await.unwrap());
        c.close().await.unwrap();

        // Phone width: one column, nothing wider than the screen.
        let phone = browser(&driver_url, 390, 844).await;
        phone.goto(&format!("{}/", server.url)).await.unwrap();
        ask(&phone, "Combien de consultants IBM envoie-t-il chez Huawei ?").await;
        wait_css(&phone, "[data-testid=answer]").await;
        phone
            .find(Locator::Css(".cite[data-n='1']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_css(&phone, "#article mark").await;
        assert!(
            js_bool(&phone, "return document.documentElement.scrollWidth <= innerWidth + 1").await,
            "the page scrolls sideways on a phone"
        );
        phone.close().await.unwrap();
    });
    // The API streams the model's tokens as they come, between the passages and the answer.
    let mut r = ureq::post(&format!("{}/api/ask", server.url))
        .header("Accept", "text/event-stream")
        .send_json(json!({"question": "Combien de consultants IBM envoie-t-il chez Huawei ?", "generate": true}))
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"passages"), "{body}");
    assert_eq!(events.last(), Some(&"answer"), "{body}");
    assert!(events.iter().filter(|e| **e == "token").count() > 3, "{body}");
    assert!(server.stop());
}

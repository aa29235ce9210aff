// sourcier's page. Everything from the index is put in the page with textContent or
// createTextNode, never as HTML: article text is data, not markup.
"use strict";

const T = {
  en: {
    ask: "Ask", search: "Search", question: "Question", mode: "Mode", hybrid: "hybrid",
    dense: "meaning", lexical: "words", lang: "Language", any: "any", since: "From", until: "To",
    source: "Source", go: "Ask", goSearch: "Search", close: "Close", generate: "Write with the local model",
    unchecked: "Sentences underlined in red cite no retrieved passage: check them.", writing: "Writing…",
    placeholderAsk: "Ask a question about your articles…",
    placeholderSearch: "Search by meaning…",
    sources: "Sources", considered: "Closest passages considered", working: "Working…",
    noHits: "No passage matches.", lines: "lines", line: "line", busy: "The server is busy; try again.",
    failed: "Request failed", abstained: "No answer in the indexed articles.",
    inexact: "This index predates stored texts: the article is shown as its passages.",
    hits: (n, ms) => `${n} passages in ${ms} ms`, answered: (ms) => `Answered in ${ms} ms`,
  },
  fr: {
    ask: "Question", search: "Recherche", question: "Question", mode: "Mode", hybrid: "hybride",
    dense: "sens", lexical: "mots", lang: "Langue", any: "toutes", since: "Depuis", until: "Jusqu'à",
    source: "Source", go: "Demander", goSearch: "Chercher", close: "Fermer", generate: "Rédiger avec le modèle local",
    unchecked: "Les phrases soulignées en rouge ne citent aucun passage trouvé : vérifiez-les.", writing: "Rédaction…",
    placeholderAsk: "Posez une question sur vos articles…",
    placeholderSearch: "Cherchez par le sens…",
    sources: "Sources", considered: "Passages les plus proches examinés", working: "Recherche en cours…",
    noHits: "Aucun passage ne correspond.", lines: "lignes", line: "ligne",
    busy: "Le serveur est occupé ; réessayez.", failed: "La requête a échoué",
    abstained: "Pas de réponse dans les articles indexés.",
    inexact: "Cet index est antérieur au stockage des textes : l'article est montré par passages.",
    hits: (n, ms) => `${n} passages en ${ms} ms`, answered: (ms) => `Réponse en ${ms} ms`,
  },
};
const L = (navigator.languages || [navigator.language || "en"]).some((l) => l.toLowerCase().startsWith("fr")) &&
  !(navigator.language || "").toLowerCase().startsWith("en") ? T.fr : T.en;
const $ = (id) => document.getElementById(id);

// A token given as #token=… is kept for this tab only and taken out of the address bar.
(function keepToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("sourcier-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
})();

let tab = "ask";
let lastAnswer = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c == null) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

async function api(path, body) {
  const headers = { "Accept": "application/json" };
  const token = sessionStorage.getItem("sourcier-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = res.status === 503 ? L.busy : (data && data.error ? data.error.message : res.statusText);
    throw new Error(msg);
  }
  return data;
}

function filters() {
  const f = {};
  for (const k of ["lang", "since", "until", "source"]) {
    const v = $(k).value.trim();
    if (v) f[k] = v;
  }
  return f;
}

function where(p) {
  const lines = p.line_start === p.line_end ? `${L.line} ${p.line_start}` : `${L.lines} ${p.line_start}–${p.line_end}`;
  return [p.date, `${p.path}, ${lines}`].filter(Boolean).join(" · ");
}

function setStatus(text, isError) {
  $("status").textContent = text || "";
  $("status").className = isError ? "error" : "";
}

// ---- ask ---------------------------------------------------------------------------------

// Asks over server-sent events: the passages arrive first, then (when generating) the
// model's text as it is written, then the checked answer.
async function ask(question) {
  setStatus(L.working);
  $("answer").replaceChildren();
  $("sources").replaceChildren();
  $("sources-title").hidden = true;
  const generate = $("generate").checked;
  const headers = { "Accept": "text/event-stream", "Content-Type": "application/json" };
  const token = sessionStorage.getItem("sourcier-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const res = await fetch("/api/ask", {
    method: "POST", headers,
    body: JSON.stringify({ question, mode: $("mode").value, filters: filters(), generate }),
  });
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    throw new Error(res.status === 503 ? L.busy : (data && data.error ? data.error.message : res.statusText));
  }
  const started = performance.now();
  let draft = null;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const raw = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = "message", data = "";
      for (const line of raw.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
      }
      if (!data) continue;
      const v = JSON.parse(data);
      if (name === "passages") {
        renderPassages(v);
        if (generate) setStatus(L.writing);
      } else if (name === "token") {
        if (!draft) {
          draft = el("p", { class: "answer-text draft" });
          $("answer").replaceChildren(draft);
        }
        draft.append(v);
      } else if (name === "answer") {
        $("answer").replaceChildren();
        $("sources").replaceChildren();
        if (generate) renderGenerated(v); else renderAnswer(v);
        const ms = v.timings && v.timings.total_ms ? v.timings.total_ms : performance.now() - started;
        setStatus(L.answered(Math.round(ms)));
      } else if (name === "error") {
        throw new Error(v.message);
      }
    }
  }
}

// The passages while the answer is being chosen.
function renderPassages(hits) {
  $("sources-title").textContent = L.considered;
  $("sources-title").hidden = false;
  $("sources").replaceChildren(...hits.slice(0, 4).map((h, i) => passageItem(h, i + 1, null)));
}

// A generated answer: each sentence with its [n] as buttons onto the prompt's passages.
function renderGenerated(g) {
  const box = $("answer");
  if (g.abstained) {
    box.append(el("p", { class: "abstained", "data-testid": "abstention" }, g.generated));
    renderPassages(g.passages);
    return;
  }
  const p = el("p", { class: "answer-text", "data-testid": "answer" });
  for (const s of g.sentences) {
    const span = el("span", { class: s.valid ? "sentence" : "sentence unchecked" });
    for (const part of s.text.split(/(\[\d+\])/)) {
      const m = part.match(/^\[(\d+)\]$/);
      const hit = m && g.passages[Number(m[1]) - 1];
      if (hit) {
        span.append(el("button", { class: "cite", "data-n": m[1], onclick: () => openArticle(hit, null) }, part));
      } else {
        span.append(part);
      }
    }
    p.append(span, " ");
  }
  box.append(p);
  if (g.sentences.some((s) => !s.valid)) box.append(el("p", { class: "warn" }, L.unchecked));
  $("sources-title").textContent = L.sources;
  $("sources-title").hidden = false;
  for (const n of g.cited) {
    const h = g.passages[n - 1];
    if (h) $("sources").append(passageItem(h, n, null));
  }
}

function renderAnswer(data) {
  const a = data.answer;
  const box = $("answer");
  if (a.abstained) {
    box.append(el("p", { class: "abstained", "data-testid": "abstention" }, a.text));
    $("sources-title").textContent = L.considered;
    $("sources-title").hidden = false;
    data.passages.slice(0, 4).forEach((p, i) => $("sources").append(passageItem(p, i + 1, null)));
    return;
  }
  const p = el("p", { class: "answer-text", "data-testid": "answer" });
  a.sentences.forEach((s, i) => {
    if (i) p.append(" ");
    p.append(sentenceWithFact(s), " ");
    const c = a.citations.find((c) => c.n === s.citation);
    p.append(el("button", {
      class: "cite", "data-n": String(s.citation), "aria-label": `${L.sources} ${s.citation}`,
      onclick: () => openArticle(c, s.text),
    }, `[${s.citation}]`));
  });
  box.append(p);
  $("sources-title").textContent = L.sources;
  $("sources-title").hidden = false;
  for (const c of a.citations) {
    const said = a.sentences.filter((s) => s.citation === c.n).map((s) => s.text);
    $("sources").append(el("li", { value: String(c.n) },
      el("button", { class: "source", onclick: () => openArticle(c, said[0]) }, c.title || c.article_id),
      el("div", { class: "meta" }, where(c))));
  }
}

// The sentence with its fact in bold: the fact's byte span into the sentence's text.
function sentenceWithFact(s) {
  const f = s.fact;
  if (!f) return el("span", { class: "sentence" }, s.text);
  const a = byteToIndex(s.text, f.sentence_start), b = byteToIndex(s.text, f.sentence_end);
  return el("span", { class: "sentence" },
    s.text.slice(0, a), el("strong", { class: "fact", "data-testid": "fact" }, s.text.slice(a, b)), s.text.slice(b));
}

function passageItem(h, n, sentence) {
  return el("li", { value: String(n) },
    el("button", { class: "source", onclick: () => openArticle(h, sentence) }, h.title || h.article_id),
    el("div", { class: "meta" }, where(h)),
    el("div", { class: "snippet" }, h.snippet));
}

// ---- search ------------------------------------------------------------------------------

async function search(query) {
  setStatus(L.working);
  $("hits").replaceChildren();
  const data = await api("/api/search", { query, k: 10, mode: $("mode").value, filters: filters() });
  if (!data.hits.length) $("hits").append(el("li", { class: "empty" }, L.noHits));
  data.hits.forEach((h) => $("hits").append(passageItem(h, h.rank, null)));
  setStatus(L.hits(data.hits.length, Math.round(data.timings.total_ms)));
}

// ---- the article viewer ------------------------------------------------------------------

// UTF-8 byte offset within `s` to a JavaScript string index.
function byteToIndex(s, bytes) {
  let b = 0, i = 0;
  for (const ch of s) {
    if (b >= bytes) break;
    const cp = ch.codePointAt(0);
    b += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += ch.length;
  }
  return i;
}

// Where to highlight in each block: the cited sentence inside the cited span, else the span.
function highlights(view, target, sentence) {
  const out = new Map();
  const overlapping = view.blocks.filter((b) => b.end > target.start && b.start < target.end);
  if (sentence) {
    const norm = (t) => t.replace(/\s+/g, " ");
    for (const b of overlapping) {
      const from = byteToIndex(b.text, Math.max(0, target.start - b.start));
      let at = b.text.indexOf(sentence, from);
      if (at < 0) at = b.text.indexOf(sentence);
      if (at < 0 && norm(b.text).includes(norm(sentence))) {
        // The sentence was rejoined across a line break: mark the lines that hold it.
        at = b.text.indexOf(sentence.split(/\s+/)[0], from);
      }
      if (at >= 0) {
        out.set(b, [at, Math.min(b.text.length, at + sentence.length)]);
        return out;
      }
    }
  }
  for (const b of overlapping) {
    const s = byteToIndex(b.text, Math.max(0, target.start - b.start));
    const e = byteToIndex(b.text, Math.min(b.end, target.end) - b.start);
    out.set(b, [s, e]);
  }
  return out;
}

async function openArticle(target, sentence) {
  let view;
  try {
    view = await api("/api/articles/" + encodeURIComponent(target.article_id));
  } catch (e) {
    setStatus(`${L.failed}: ${e.message}`, true);
    return;
  }
  const panel = $("article");
  $("article-title").textContent = view.title || view.id;
  $("article-meta").textContent = [view.date, view.path].filter(Boolean).join(" · ") +
    (view.exact ? "" : " — " + L.inexact);
  const body = $("article-body");
  body.replaceChildren();
  const marks = highlights(view, target, sentence);
  let first = null;
  for (const b of view.blocks) {
    const block = el("div", { class: "block" });
    const range = marks.get(b);
    let offset = 0;
    b.text.split("\n").forEach((line, i) => {
      const row = el("div", { class: "line" }, el("span", { class: "ln", "aria-hidden": "true" }, String(b.line_start + i)));
      const text = el("span", { class: "tx" });
      const s = range ? Math.max(range[0] - offset, 0) : 0;
      const e = range ? Math.min(range[1] - offset, line.length) : 0;
      if (range && s < e) {
        text.append(line.slice(0, s));
        const m = el("mark", { "data-testid": "highlight" }, line.slice(s, e));
        text.append(m, line.slice(e));
        if (!first) first = m;
      } else {
        text.append(line);
      }
      row.append(text);
      block.append(row);
      offset += line.length + 1;
    });
    body.append(block);
  }
  panel.hidden = false;
  document.body.classList.add("reading");
  panel.focus({ preventScroll: true });
  if (first) first.scrollIntoView({ block: "center" });
}

function closeArticle() {
  $("article").hidden = true;
  document.body.classList.remove("reading");
  const b = document.querySelector(".cite");
  if (b) b.focus();
}

// ---- wiring ------------------------------------------------------------------------------

function selectTab(name) {
  tab = name;
  for (const t of ["ask", "search"]) {
    $("tab-" + t).setAttribute("aria-selected", String(t === name));
    $("view-" + t).hidden = t !== name;
  }
  $("go").textContent = name === "ask" ? L.go : L.goSearch;
  $("generate-box").hidden = name !== "ask";
  $("q").placeholder = name === "ask" ? L.placeholderAsk : L.placeholderSearch;
  $("q").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.lang = L === T.fr ? "fr" : "en";
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = L[e.dataset.i18n];
  $("q").placeholder = L.placeholderAsk;
  $("tab-ask").addEventListener("click", () => selectTab("ask"));
  $("tab-search").addEventListener("click", () => selectTab("search"));
  $("close").addEventListener("click", closeArticle);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("article").hidden) closeArticle();
  });
  $("q").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("form").requestSubmit();
    }
  });
  $("form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("q").value.trim();
    if (!q) return;
    $("go").disabled = true;
    try {
      await (tab === "ask" ? ask(q) : search(q));
    } catch (err) {
      setStatus(`${L.failed}: ${err.message}`, true);
    } finally {
      $("go").disabled = false;
    }
  });
  $("q").focus();
});

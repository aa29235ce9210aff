"""Fine-tunes the answer reader: low-rank adapters on EmbeddingGemma's last layers and a
start/end head, trained on (question, sentence) pairs from PIAF v1.0.

Frozen linear heads over the encoder's last states saturated at span F1 0.28: the encoder's
last states say what a text is about, not where an answer to a question sits in it. Letting
the last layers learn to read the question against the sentence is what SQuAD readers do;
full fine-tuning is out of reach on two cores, but the lower layers can stay frozen (their
states are computed once and cached) and the top ones learn low-rank updates, which also
keeps the shipped file small (`src/answer/reader-adapter.safetensors`).

The forward pass is written out here (not taken from `transformers`) so that it is the one
`src/embed/gemma.rs` runs, step for step; `--check FIXTURE` compares its embeddings with
the sentence-transformers references before anything is trained.

Split (question numbers as `eval` counts them): fit on even-numbered questions, choose the
number of passes on those numbered 1 mod 4, never look at 3 mod 4 (the report half).

    cargo run --release --example reader_pairs -- ../shared/eval/piaf/piaf-v1.0.json /tmp/pairs.jsonl
    python examples/finetune_reader.py /tmp/pairs.jsonl MODEL_DIR src/answer/reader-adapter.safetensors \
        --describe src/answer/reader.json --cache /tmp/reader-states

The defaults are the shipped reader's: adapters of rank 16 (alpha 32) on the last eight
layers, AdamW at 2e-3, five passes. With `--cache`, the frozen states below the adapted
layers are computed once (15 min on two cores for 8,272 pairs) and reused by later runs; they
are kept by pair, so a run with added pairs (translated questions, mined negatives) only
computes those.

Needs torch, safetensors and tokenizers (the peer benchmark's environment has them:
`bash ../shared/bench/setup-peer.sh`).
"""

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import Tokenizer

READER_QUESTION = "task: question answering | query: "
READER_PASSAGE = " | text: "
MAX_SPAN_TOKENS = 30


class Gemma:
    """EmbeddingGemma's encoder, as `src/embed/gemma.rs` runs it (f32, bidirectional)."""

    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.cfg = cfg
        f = safe_open(os.path.join(model_dir, "model.safetensors"), "pt")
        self.w = {k: f.get_tensor(k) for k in f.keys()}
        self.h = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.hd = cfg["head_dim"]
        self.eps = cfg["rms_norm_eps"]
        self.n_layers = cfg["num_hidden_layers"]
        self.sliding = [t != "full_attention" for t in cfg["layer_types"]]
        self.half_window = cfg["sliding_window"] // 2 + 1
        self.scale = 1.0 / math.sqrt(cfg["query_pre_attn_scalar"])
        self.rope = {
            True: self._rope(cfg["rope_local_base_freq"]),
            False: self._rope(cfg["rope_theta"]),
        }
        self.dense = []
        for sub in ("2_Dense", "3_Dense"):
            g = safe_open(os.path.join(model_dir, sub, "model.safetensors"), "pt")
            self.dense.append(g.get_tensor("linear.weight"))

    def _rope(self, base, max_pos=2048):
        inv = 1.0 / (base ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        t = torch.arange(max_pos, dtype=torch.float64)
        freqs = torch.outer(t, inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().float(), emb.sin().float()

    def norm(self, x, w):
        x32 = x.float()
        return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + w)

    def embed(self, ids):
        return self.w["embed_tokens.weight"][ids] * math.sqrt(self.h)

    def layer(self, i, x, mask, lora=None):
        """One layer over a padded batch `x` [b, t, h]; `mask` [b, t] is true on tokens."""
        p = f"layers.{i}."
        w = self.w

        def lin(name, v):
            y = v @ w[p + name + ".weight"].T
            if lora is not None and name in lora:
                a, b = lora[name]
                y = y + (v @ a.T) @ b.T
            return y

        bsz, t, _ = x.shape
        h = self.norm(x, w[p + "input_layernorm.weight"])
        q = lin("self_attn.q_proj", h).view(bsz, t, self.nh, self.hd).transpose(1, 2)
        k = lin("self_attn.k_proj", h).view(bsz, t, 1, self.hd).transpose(1, 2)
        v = lin("self_attn.v_proj", h).view(bsz, t, 1, self.hd).transpose(1, 2)
        q = self.norm(q, w[p + "self_attn.q_norm.weight"])
        k = self.norm(k, w[p + "self_attn.k_norm.weight"])
        cos, sin = self.rope[self.sliding[i]]
        cos, sin = cos[:t], sin[:t]

        def rot(u):
            u1, u2 = u[..., : self.hd // 2], u[..., self.hd // 2 :]
            return u * cos + torch.cat([-u2, u1], dim=-1) * sin

        q, k = rot(q) * self.scale, rot(k)
        scores = q @ k.transpose(-1, -2)  # [b, nh, t, t]
        allowed = mask[:, None, None, :]
        if self.sliding[i] and t > self.half_window:
            pos = torch.arange(t)
            allowed = allowed & ((pos[:, None] - pos[None, :]).abs() < self.half_window)
        scores = scores.masked_fill(~allowed, float("-inf"))
        attn = torch.softmax(scores, dim=-1) @ v  # [b, nh, t, hd]
        attn = attn.transpose(1, 2).reshape(bsz, t, self.nh * self.hd)
        x = x + self.norm(lin("self_attn.o_proj", attn), w[p + "post_attention_layernorm.weight"])
        h = self.norm(x, w[p + "pre_feedforward_layernorm.weight"])
        g = F.gelu(lin("mlp.gate_proj", h), approximate="tanh") * lin("mlp.up_proj", h)
        return x + self.norm(lin("mlp.down_proj", g), w[p + "post_feedforward_layernorm.weight"])

    def final(self, x):
        return self.norm(x, self.w["norm.weight"])

    def sentence_embedding(self, ids):
        x = self.embed(torch.tensor([ids]))
        mask = torch.ones(1, len(ids), dtype=torch.bool)
        for i in range(self.n_layers):
            x = self.layer(i, x, mask)
        pooled = self.final(x).mean(1)
        out = pooled @ self.dense[0].T @ self.dense[1].T
        return F.normalize(out, dim=-1)[0]


def byte_offsets(text):
    """Byte offset of each character of `text`, and of its end."""
    out, b = [], 0
    for ch in text:
        out.append(b)
        b += len(ch.encode("utf-8"))
    out.append(b)
    return out


def encode_pair(tok, question, sentence, max_tokens):
    """Token ids of a pair as `read_pairs` builds it, with each sentence token's byte range
    in the sentence (None for question tokens) and whether the token is the question's."""
    text = READER_QUESTION + question + READER_PASSAGE + sentence
    enc = tok.encode(text)
    bo = byte_offsets(text)
    q_start = len(READER_QUESTION.encode())
    q_end = q_start + len(question.encode())
    p_start = q_end + len(READER_PASSAGE.encode())
    ids = enc.ids[:max_tokens]
    spans = []
    for a, b in enc.offsets[: len(ids)]:
        a, b = bo[a], bo[b]
        if b <= a or b <= p_start:
            spans.append(None)
        else:
            spans.append((max(a, p_start) - p_start, b - p_start))
    return ids, spans


def token_label(spans, ans):
    """(first, last) token of the answer byte range `ans`, or None when it is not covered."""
    a = next((i for i, s in enumerate(spans) if s and s[1] > ans[0] and s[0] < ans[1]), None)
    b = next((i for i in reversed(range(len(spans))) if spans[i] and spans[i][0] < ans[1] and spans[i][1] > ans[0]), None)
    if a is None or b is None or b < a or b - a >= MAX_SPAN_TOKENS:
        return None
    return a, b


def batches(items, max_tokens):
    """Groups of items of similar length, at most `max_tokens` padded tokens each."""
    order = sorted(range(len(items)), key=lambda i: len(items[i]["ids"]))
    out, cur = [], []
    for i in order:
        n = len(items[i]["ids"])
        if cur and (len(cur) + 1) * n > max_tokens:
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def pair_key(ids):
    """The cache's key of a pair: its token ids (question and sentence both)."""
    return hashlib.sha1(json.dumps(ids).encode()).hexdigest()


def token_mask(items, idx, width):
    """[len(idx), width]: true on each item's tokens, false on the padding."""
    return torch.stack([F.pad(torch.ones(len(items[i]["ids"]), dtype=torch.bool), (0, width - len(items[i]["ids"]))) for i in idx])


def pad(items, idx, key, width):
    return torch.stack([F.pad(items[i][key], (0, 0, 0, width - items[i][key].shape[0])) for i in idx])


class Adapter(torch.nn.Module):
    PROJ = (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    )

    @staticmethod
    def key(i, name):
        """Parameter key of matrix `name` of layer `i` (module dicts take no dots)."""
        return f"{i}_{name.replace('.', '_')}"

    def __init__(self, gemma, layers, rank, alpha):
        super().__init__()
        self.layers = layers
        self.scaling = alpha / rank
        self.a = torch.nn.ParameterDict()
        self.b = torch.nn.ParameterDict()
        for i in layers:
            for name in self.PROJ:
                out_dim, in_dim = gemma.w[f"layers.{i}.{name}.weight"].shape
                key = self.key(i, name)
                self.a[key] = torch.nn.Parameter(torch.randn(rank, in_dim) / math.sqrt(in_dim))
                self.b[key] = torch.nn.Parameter(torch.zeros(out_dim, rank))
        self.start = torch.nn.Linear(gemma.h, 1)
        self.end = torch.nn.Linear(gemma.h, 1)
        torch.nn.init.normal_(self.start.weight, std=0.02)
        torch.nn.init.normal_(self.end.weight, std=0.02)

    def lora(self, i):
        return {
            name: (self.a[self.key(i, name)], self.b[self.key(i, name)] * self.scaling) for name in self.PROJ
        }

    def forward(self, gemma, x, mask):
        for i in self.layers:
            x = gemma.layer(i, x, mask, self.lora(i))
        h = gemma.final(x)
        return self.start(h).squeeze(-1), self.end(h).squeeze(-1)


def logits_masked(s, e, items, idx, t):
    """Start/end logits with every token that may not start or end an answer at -inf, except
    position 0 (BOS), which stands for "no answer here"."""
    allow = torch.zeros(len(idx), t, dtype=torch.bool)
    for r, i in enumerate(idx):
        allow[r, 0] = True
        for j, sp in enumerate(items[i]["spans"]):
            if sp is not None:
                allow[r, j] = True
    return s.masked_fill(~allow, -1e4), e.masked_fill(~allow, -1e4)


def best_span(s, e, spans):
    """(score, first, last) of the best span over sentence tokens."""
    best = (-1e9, 0, 0)
    toks = [j for j, sp in enumerate(spans) if sp is not None]
    for ai, a in enumerate(toks):
        for b in toks[ai : ai + MAX_SPAN_TOKENS]:
            v = s[a] + e[b]
            if v > best[0]:
                best = (v, a, b)
    return best


def normalize_answer(text):
    import re
    import string
    import unicodedata

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) | {"«", "»", "’", "–"})
    text = re.sub(r"\b(le|la|les|l|un|une|des|du|de|d|a|an|the)\b", " ", text)
    text = unicodedata.normalize("NFC", text)
    return text.split()


def f1(pred, golds):
    best = 0.0
    p = normalize_answer(pred)
    for g in golds:
        gt = normalize_answer(g)
        common = {}
        for w in p:
            if w in gt:
                common[w] = min(p.count(w), gt.count(w))
        same = sum(common.values())
        if same == 0:
            continue
        pr, rc = same / len(p), same / len(gt)
        best = max(best, 2 * pr * rc / (pr + rc))
    return best


def evaluate(gemma, adapter, items, idx_all, max_tokens):
    """Span F1 on the gold sentences, the gold sentence ranked first among each question's
    pairs, and the AUC of the answer margin (gold vs other sentences)."""
    adapter.eval()
    margins = {}
    f1s = []
    with torch.no_grad():
        sub = [items[i] for i in idx_all]
        for b in batches(sub, max_tokens):
            idx = [idx_all[i] for i in b]
            t = max(len(items[i]["ids"]) for i in idx)
            x = pad(items, idx, "states", t)
            mask = token_mask(items, idx, t)
            s, e = adapter(gemma, x, mask)
            for r, i in enumerate(idx):
                it = items[i]
                sc, a, bb = best_span(s[r].tolist(), e[r].tolist(), it["spans"])
                margin = sc - (s[r, 0] + e[r, 0]).item()
                margins[i] = margin
                if it["answer"] is not None:
                    text = it["sentence"].encode()[it["spans"][a][0] : it["spans"][bb][1]].decode("utf-8", "replace")
                    f1s.append(f1(text, it["golds"]))
    by_q = {}
    for i in idx_all:
        by_q.setdefault(items[i]["q"], []).append(i)
    top1 = []
    for q, ii in by_q.items():
        if any(items[i]["answer"] is not None for i in ii):
            best = max(ii, key=lambda i: margins[i])
            top1.append(items[best]["answer"] is not None)
    pos = [margins[i] for i in idx_all if items[i]["answer"] is not None]
    neg = [margins[i] for i in idx_all if items[i]["answer"] is None]
    auc = auc_of(pos, neg)
    adapter.train()
    return {
        "span_f1_gold": sum(f1s) / max(1, len(f1s)),
        "gold_first": sum(top1) / max(1, len(top1)),
        "auc": auc,
        "pairs": len(idx_all),
    }


def auc_of(pos, neg):
    if not pos or not neg:
        return float("nan")
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum, r = 0.0, 0
    i = 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + j + 1) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1] == 1)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def save_adapter(adapter, state, first, rank, path):
    """Writes the adapters and heads of `state` as the reader file Rust loads (f16)."""
    out = {}
    for i in adapter.layers:
        for name in Adapter.PROJ:
            key = Adapter.key(i, name)
            out[f"layers.{i}.{name}.lora_a"] = state[f"a.{key}"].contiguous()
            out[f"layers.{i}.{name}.lora_b"] = (state[f"b.{key}"] * adapter.scaling).contiguous()
    for head in ("start", "end"):
        out[f"{head}.weight"] = state[f"{head}.weight"].reshape(-1).contiguous()
        out[f"{head}.bias"] = state[f"{head}.bias"].reshape(-1).contiguous()
    meta = {"first_layer": str(first), "rank": str(rank)}
    save_file({k: v.detach().to(torch.float16) for k, v in out.items()}, path, metadata=meta)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=8, help="how many of the last layers adapt")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--cache", help="where the frozen states are kept between runs")
    ap.add_argument("--cache-layer", type=int, help="the layer whose input is cached (default: the first adapted)")
    ap.add_argument("--check", help="a reference fixture: compare embeddings and stop")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--load", help="start from this adapter file (with --epochs 0: only describe it)")
    ap.add_argument("--save-each", action="store_true", help="also write each pass to OUT.passN.safetensors")
    ap.add_argument("--describe", help="also write the reader's description (src/answer/reader.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    gemma = Gemma(args.model_dir)
    tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))

    if args.check:
        fx = json.load(open(args.check))
        worst = 1.0
        for item in fx["items"][:8]:
            ids = tok.encode(item["prompt"] + item["text"]).ids
            assert ids == item["input_ids"], (ids, item["input_ids"])
            v = gemma.sentence_embedding(ids)
            ref = torch.tensor(item["embedding"])
            c = float(F.cosine_similarity(v, ref, dim=0))
            worst = min(worst, c)
            print(f"{item['id']}: cosine {c:.6f}", file=sys.stderr)
        print(f"worst cosine {worst:.6f}")
        return

    first = gemma.n_layers - args.layers
    items = []
    for line in open(args.pairs):
        p = json.loads(line)
        if args.limit and p["q"] >= args.limit:
            continue
        if p["q"] % 4 == 3:
            continue  # the report half: never read here
        ids, spans = encode_pair(tok, p["question"], p["sentence"], 2048)
        label = token_label(spans, p["answer"]) if p["answer"] else None
        if p["answer"] and label is None:
            continue
        items.append({**p, "ids": ids, "spans": spans, "label": label})
    print(f"{len(items)} pairs, {sum(1 for i in items if i['label'])} with the answer", file=sys.stderr)

    cached = args.cache_layer if args.cache_layer is not None else first
    assert cached <= first, "the cache must sit below the adapted layers"
    cache = args.cache and f"{args.cache}.L{cached}.pt"
    # Keyed by the pair's token ids, so that pairs added later (translated questions, mined
    # negatives) only cost their own frozen pass.
    known = torch.load(cache) if cache and os.path.exists(cache) else {}
    assert isinstance(known, dict), f"{cache} was written by an older version of this script: remove it"
    for it in items:
        st = known.get(pair_key(it["ids"]))
        if st is not None:
            it["states"] = st.float()
    todo = [it for it in items if "states" not in it]
    if todo:
        print(f"frozen states: {len(items) - len(todo)} cached, {len(todo)} to compute", file=sys.stderr)
        t0 = time.time()
        done = 0
        with torch.inference_mode():
            for b in batches(todo, args.batch_tokens * 2):
                t = max(len(todo[i]["ids"]) for i in b)
                ids = torch.stack([F.pad(torch.tensor(todo[i]["ids"]), (0, t - len(todo[i]["ids"]))) for i in b])
                mask = token_mask(todo, b, t)
                x = gemma.embed(ids)
                for li in range(cached):
                    x = gemma.layer(li, x, mask)
                for r, i in enumerate(b):
                    todo[i]["states"] = x[r, : len(todo[i]["ids"])].clone()
                done += len(b)
                if done % 500 < len(b):
                    print(f"frozen states: {done}/{len(todo)} pairs in {time.time() - t0:.0f} s", file=sys.stderr)
        if cache:
            for it in todo:
                known[pair_key(it["ids"])] = it["states"].to(torch.bfloat16)
            tmp = cache + ".tmp"
            torch.save(known, tmp)
            os.replace(tmp, cache)
            for it in todo:
                it["states"] = it["states"].to(torch.bfloat16).float()

    if cached < first:
        with torch.inference_mode():
            for b in batches(items, args.batch_tokens * 2):
                t = max(len(items[i]["ids"]) for i in b)
                x = pad(items, b, "states", t)
                mask = token_mask(items, b, t)
                for li in range(cached, first):
                    x = gemma.layer(li, x, mask)
                for r, i in enumerate(b):
                    items[i]["states"] = x[r, : len(items[i]["ids"])].clone()

    train = [i for i, it in enumerate(items) if it["q"] % 2 == 0]
    select = [i for i, it in enumerate(items) if it["q"] % 4 == 1]
    adapter = Adapter(gemma, list(range(first, gemma.n_layers)), args.rank, args.alpha)
    opt = torch.optim.AdamW(adapter.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = len(batches([items[i] for i in train], args.batch_tokens))
    total = max(1, steps_per_epoch * args.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / total))
    if not args.load:
        print(f"before training: {evaluate(gemma, adapter, items, select, args.batch_tokens * 2)}", file=sys.stderr)
    best = None
    if args.load:
        g = safe_open(args.load, "pt")
        with torch.no_grad():
            for i in adapter.layers:
                for name in Adapter.PROJ:
                    key = Adapter.key(i, name)
                    adapter.a[key].copy_(g.get_tensor(f"layers.{i}.{name}.lora_a").float())
                    adapter.b[key].copy_(g.get_tensor(f"layers.{i}.{name}.lora_b").float() / adapter.scaling)
            for head in ("start", "end"):
                getattr(adapter, head).weight.copy_(g.get_tensor(f"{head}.weight").float()[None])
                getattr(adapter, head).bias.copy_(g.get_tensor(f"{head}.bias").float())
        ev = evaluate(gemma, adapter, items, select, args.batch_tokens * 2)
        print(f"loaded {args.load}: {ev}", file=sys.stderr)
        best = (ev["span_f1_gold"] + ev["gold_first"], -1, ev, {k: v.detach().clone() for k, v in adapter.state_dict().items()})
    step = 0
    for epoch in range(args.epochs):
        bs = batches([items[i] for i in train], args.batch_tokens)
        random.shuffle(bs)
        t0 = time.time()
        run = 0.0
        for n, b in enumerate(bs):
            idx = [train[i] for i in b]
            t = max(len(items[i]["ids"]) for i in idx)
            x = pad(items, idx, "states", t)
            mask = token_mask(items, idx, t)
            s, e = adapter(gemma, x, mask)
            s, e = logits_masked(s, e, items, idx, t)
            ys = torch.tensor([items[i]["label"][0] if items[i]["label"] else 0 for i in idx])
            ye = torch.tensor([items[i]["label"][1] if items[i]["label"] else 0 for i in idx])
            loss = (F.cross_entropy(s, ys) + F.cross_entropy(e, ye)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            run = 0.98 * run + 0.02 * loss.item() if n else loss.item()
            if n % 50 == 0:
                print(f"epoch {epoch} step {n}/{len(bs)} loss {run:.3f} ({time.time() - t0:.0f} s)", file=sys.stderr)
        ev = evaluate(gemma, adapter, items, select, args.batch_tokens * 2)
        print(f"epoch {epoch}: {ev}", file=sys.stderr)
        score = ev["span_f1_gold"] + ev["gold_first"]
        if best is None or score > best[0]:
            best = (score, epoch, ev, {k: v.detach().clone() for k, v in adapter.state_dict().items()})
        if args.save_each:
            # The pairs' figures are a proxy: `sourcier eval --answers` on questions 1 mod 4
            # judges each pass end to end.
            path = args.out.removesuffix(".safetensors") + f".pass{epoch + 1}.safetensors"
            save_adapter(adapter, adapter.state_dict(), first, args.rank, path)
            print(f"pass {epoch + 1} written to {path}", file=sys.stderr)
    score, epoch, ev, state = best
    save_adapter(adapter, state, first, args.rank, args.out)
    if args.describe:
        # The shipped (f16) weights, read back, give the figures Rust must reproduce.
        adapter.load_state_dict(state)
        with torch.no_grad():
            for k, v in adapter.state_dict().items():
                v.copy_(v.to(torch.float16).float())
        checks = []
        with torch.no_grad():
            for i in select[:12:2]:
                it = items[i]
                # From the tokens, in f32: the cached states were rounded to bf16.
                x = gemma.embed(torch.tensor([it["ids"]]))
                one = torch.ones(1, x.shape[1], dtype=torch.bool)
                for li in range(first):
                    x = gemma.layer(li, x, one)
                s, e = adapter(gemma, x, torch.ones(1, x.shape[1], dtype=torch.bool))
                sc, a, b = best_span(s[0].tolist(), e[0].tolist(), it["spans"])
                checks.append(
                    {
                        "question": it["question"],
                        "sentence": it["sentence"],
                        "margin": round(sc - (s[0, 0] + e[0, 0]).item(), 4),
                        "span": [it["spans"][a][0], it["spans"][b][1]],
                    }
                )
        mined = sum(1 for it in items if it.get("mined"))
        mined_note = f", and {mined} read by the answerer without holding the answer (--mined)" if mined else ""
        english = sum(1 for it in items if it.get("translated") and it["q"] % 2 == 0)
        if english:
            mined_note += f"; {english} of the pairs ask the question in English (translate_questions.rs, reader_pairs.rs --translated)"
        if args.load:
            mined_note += f", continued from {os.path.basename(args.load)}"
        if epoch >= 0:
            chosen_note = f"{epoch + 1} of {args.epochs} passes chosen on questions 1 mod 4"
        elif args.epochs:
            chosen_note = f"no pass of {args.epochs} beat the loaded reader on questions 1 mod 4"
        else:
            chosen_note = "not trained further; figures on questions 1 mod 4"
        desc = {
            "format": 2,
            "state_space": "embeddinggemma-300m/hidden768",
            "first_layer": first,
            "rank": args.rank,
            "tensors_sha256": hashlib.sha256(open(args.out, "rb").read()).hexdigest(),
            "trained_on": (
                f"PIAF v1.0 pairs of the even-numbered questions (examples/reader_pairs.rs: the gold sentence and the two "
                f"non-answering ones sharing the most words with the question{mined_note}), adapters of rank {args.rank} "
                f"(alpha {args.alpha:g}) on layers {first}-{gemma.n_layers - 1}, AdamW lr {args.lr:g}, "
                f"{chosen_note}: "
                f"span F1 on the gold sentence {ev['span_f1_gold']:.3f}, gold sentence first {ev['gold_first']:.3f}, "
                f"margin AUC {ev['auc']:.3f}"
            ),
            "checks": checks,
        }
        with open(args.describe, "w") as f:
            json.dump(desc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print(json.dumps({"epoch": epoch + 1, **ev}))


if __name__ == "__main__":
    main()

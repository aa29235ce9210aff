"""Would sentence vectors pooled from the chunk pass ("late chunking") serve the answerer as
well as sentences embedded alone? Ingest embeds every answer sentence on its own, about as
many tokens again as the chunks; pooling each sentence's tokens out of its paragraph's pass
would take that second pass away (issue 10).

The answer scorer needs the question-to-sentence cosine to tell the sentences of one passage
apart. This checks exactly that, on PIAF v1.0's even-numbered questions (file order; the
reader and the scorer never report on them): for each question, the sentences of its gold
paragraph are ranked by cosine with the question, and the check counts how often the sentence
holding the answer comes first, with
- `alone`: each sentence embedded on its own, as ingest does now;
- `late`: the mean of its tokens' last states in the paragraph's pass, then the Dense layers;
- `late_ctx`: the same, averaged half and half with the paragraph's mean state.

Sentence-transformers in f32 on PyTorch (the peer's environment:
`bash ../shared/bench/setup-peer.sh`); sentences are split at `. ` before a capital, which is
enough for a comparison of the three.

    ~/.cache/sourcier-peer-venv/bin/python examples/late_chunking_check.py \\
        ../shared/eval/piaf/piaf-v1.0.json ~/.cache/sourcier/models/embeddinggemma-300m --questions 300
"""

import argparse
import json
import os
import random
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

QUERY = "task: search result | query: "


def split(ctx):
    out, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý«\"])", ctx):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(ctx)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("squad")
    ap.add_argument("model_dir")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = SentenceTransformer(a.model_dir, device="cpu")
    tr, dense1, dense2 = m[0], m[2], m[3]
    tok = tr.tokenizer

    items = []
    for art in json.load(open(a.squad, encoding="utf-8"))["data"]:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                items.append((art["title"], p["context"], qa["question"], qa["answers"][0]))
    items = items[::2]
    random.seed(7)
    random.shuffle(items)
    items = items[: a.questions]

    def enc(texts):
        return F.normalize(torch.tensor(m.encode(texts, batch_size=16)), dim=-1)

    def dense(x):
        with torch.no_grad():
            x = dense1({"sentence_embedding": x})["sentence_embedding"]
            return F.normalize(dense2({"sentence_embedding": x})["sentence_embedding"], dim=-1)

    firsts = {"alone": 0, "late": 0, "late_ctx": 0}
    n = 0
    for title, ctx, q, ans in items:
        sents = split(ctx)
        gold = [i for i, (s, e) in enumerate(sents) if s <= ans["answer_start"] < e]
        if len(sents) < 2 or not gold:
            continue
        prompt = f"title: {title} | text: "
        qv = enc([QUERY + q])[0]
        alone = enc([prompt + ctx[s:e] for s, e in sents])
        f = tok(prompt + ctx, return_offsets_mapping=True, return_tensors="pt")
        offs = f.pop("offset_mapping")[0].tolist()
        with torch.no_grad():
            states = tr({"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]})["token_embeddings"][0]
        late, late_ctx = [], []
        for s, e in sents:
            s, e = s + len(prompt), e + len(prompt)
            idx = [i for i, (x, y) in enumerate(offs) if y > x and x >= s and y <= e + 1]
            v = states[idx].mean(0)
            late.append(v)
            late_ctx.append(0.5 * v + 0.5 * states.mean(0))
        n += 1
        for name, vs in (("alone", alone), ("late", dense(torch.stack(late))), ("late_ctx", dense(torch.stack(late_ctx)))):
            firsts[name] += int(torch.argmax(vs @ qv)) == gold[0]
    print(json.dumps({"questions": n, **{k: round(v / max(1, n), 3) for k, v in firsts.items()}, "counts": firsts}))


if __name__ == "__main__":
    main()

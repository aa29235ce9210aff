"""Trains the re-ranker of the sentences the answer reader read: gradient-boosted trees over
the sentence scorer's features and the reader's answer margins, which decide which read
sentence comes first (`src/answer/reranker.rs`).

The scorer's score plus 0.2 x the reader's margin is a straight line through two signals
that do not add: a high margin means little on a sentence whose type is missing, a middling
one much on the only sentence with a new name. Shallow trees learn such interactions from
the feature dumps `sourcier eval --dump-answer-features` writes (one line per candidate
sentence, with its features `f`, margin `m`, score and label).

Split (question numbers as `eval` counts them): fit on the even-numbered questions, choose
the settings on those numbered 1 mod 4, never look at 3 mod 4 (the report half).

    sourcier -q eval ../shared/eval/piaf/piaf-v1.0.json --modes hybrid --answers --split even \\
        --corpus-index DIR --dump-answer-features /tmp/even.jsonl
    sourcier -q eval ../shared/eval/piaf/piaf-v1.0.json --modes hybrid --answers --split 1/4 \\
        --corpus-index DIR --dump-answer-features /tmp/q1.jsonl
    python examples/train_reranker.py /tmp/even.jsonl src/answer/reranker.json --select /tmp/q1.jsonl

The defaults are the shipped settings, chosen on the questions numbered 1 mod 4 among depths
2-5, 50-200 trees and leaves of 30 or 60 rows (`docs/benchmarks.md`).

The reader was fitted on the even-numbered questions too, so its margins there are higher
than on new questions; `--select` says whether trees fitted on them still help where they
are not. Needs numpy and scikit-learn (the peer benchmark's environment has them:
`bash ../shared/bench/setup-peer.sh`).
"""

import argparse
import collections
import json
import math
import os
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

FORMAT = 1
# Must match `src/answer/reranker.rs::EXTRA_NAMES` after the scorer's features.
EXTRA = ["margin", "margin_gap", "score_gap", "margin_rank", "read"]


def load(path):
    """Questions -> their read candidates (with a margin), in dump order."""
    by = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            if d["m"] is not None:
                by[d["q"]].append(d)
    return by


def features(cands):
    """The rows of one question's read sentences: as `reranker::features` computes them."""
    best_m = max(c["m"] for c in cands)
    best_s = max(c["score"] for c in cands)
    margins = sorted((c["m"] for c in cands), reverse=True)
    rows = []
    for c in cands:
        rank = margins.index(c["m"])
        rows.append(list(c["f"]) + [c["m"], c["m"] - best_m, c["score"] - best_s, float(rank), float(len(cands))])
    return rows


def matrix(by):
    X, y, g, s = [], [], [], []
    for q, cands in sorted(by.items()):
        for row, c in zip(features(cands), cands):
            X.append(row)
            y.append(int(c["label"]))
            g.append(q)
            s.append(c["score"])
    return np.array(X, dtype=np.float64), np.array(y), np.array(g), np.array(s)


def first_right(pred, y, g):
    """Questions whose best-predicted read sentence holds the answer."""
    n = 0
    for q in np.unique(g):
        i = np.where(g == q)[0]
        n += y[i[np.argmax(pred[i])]]
    return int(n)


def export(model, names, trained_on):
    trees = []
    for (tree,) in model._predictors:
        nodes = tree.nodes
        out = []
        for n in nodes:
            if n["is_leaf"]:
                out.append({"leaf": float(n["value"])})
            else:
                out.append(
                    {
                        "feature": int(n["feature_idx"]),
                        "threshold": float(n["num_threshold"]),
                        "left": int(n["left"]),
                        "right": int(n["right"]),
                        "missing_left": bool(n["missing_go_to_left"]),
                    }
                )
        trees.append(out)
    base = float(np.ravel(model._baseline_prediction)[0])
    return {
        "format": FORMAT,
        "features": names,
        "base": base,
        "trees": trees,
        "trained_on": trained_on,
        "checks": [],
    }


def raw(desc, x):
    """The raw score of one row, as `reranker.rs` computes it: for the checks."""
    total = desc["base"]
    for nodes in desc["trees"]:
        i = 0
        while "leaf" not in nodes[i]:
            n = nodes[i]
            v = x[n["feature"]]
            left = n["missing_left"] if math.isnan(v) else v <= n["threshold"]
            i = n["left"] if left else n["right"]
        total += nodes[i]["leaf"]
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train", help="feature dump of the even-numbered questions")
    ap.add_argument("out", help="where to write the re-ranker (JSON)")
    ap.add_argument("--select", help="feature dump of the questions numbered 1 mod 4, to report on")
    ap.add_argument("--names", default="src/answer/scorer.json", help="the scorer file, for its feature names")
    ap.add_argument("--trees", type=int, default=200)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--min-leaf", type=int, default=30)
    args = ap.parse_args()

    with open(args.names) as f:
        names = json.load(f)["features"] + EXTRA
    X, y, g, s = matrix(load(args.train))
    if X.shape[1] != len(names):
        sys.exit(f"{args.train}: rows have {X.shape[1]} features, the scorer names {len(names)}")
    model = HistGradientBoostingClassifier(
        max_iter=args.trees,
        learning_rate=args.rate,
        max_depth=args.depth,
        min_samples_leaf=args.min_leaf,
        early_stopping=False,
        random_state=0,
    )
    model.fit(X, y)
    qs = len(np.unique(g))
    print(f"fitted on {len(y)} read sentences of {qs} questions ({y.mean():.3f} answer)", file=sys.stderr)
    print(f"  first right in sample: score {first_right(s, y, g)}, trees {first_right(model.decision_function(X), y, g)}", file=sys.stderr)
    trained_on = (
        f"{os.path.basename(args.train)}: {len(y)} read sentences of {qs} even-numbered PIAF v1.0 questions; "
        f"HistGradientBoostingClassifier(max_iter={args.trees}, learning_rate={args.rate}, "
        f"max_depth={args.depth}, min_samples_leaf={args.min_leaf})"
    )
    if args.select:
        Xs, ys, gs, ss = matrix(load(args.select))
        a, b = first_right(ss, ys, gs), first_right(model.decision_function(Xs), ys, gs)
        oracle = sum(int(ys[gs == q].max()) for q in np.unique(gs))
        print(f"  selection ({len(np.unique(gs))} questions): first right score {a}, trees {b}, any read {oracle}", file=sys.stderr)
        trained_on += f"; on {os.path.basename(args.select)}: first read sentence right {a} -> {b} (any read: {oracle})"
    desc = export(model, names, trained_on)
    # Six rows spread over the data, with sklearn's raw scores: `reranker.rs` must read them alike.
    for i in list(range(0, len(X), max(1, len(X) // 6)))[:6]:
        c = {"x": [float(v) for v in X[i]], "raw": float(model.decision_function(X[i : i + 1])[0])}
        assert abs(raw(desc, c["x"]) - c["raw"]) < 1e-6, "the exported trees do not read as sklearn's"
        desc["checks"].append(c)
    with open(args.out, "w") as f:
        # One tree per line: readable diffs, a fifth of the indented size.
        def compact(v):
            return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

        f.write("{\n")
        for k in ["format", "features", "base", "trained_on"]:
            f.write(f'"{k}": {compact(desc[k])},\n')
        f.write('"trees": [\n' + ",\n".join(compact(t) for t in desc["trees"]) + "\n],\n")
        f.write('"checks": [\n' + ",\n".join(compact(c) for c in desc["checks"]) + "\n]\n}\n")
    json.load(open(args.out))
    print(f"wrote {args.out} ({len(desc['trees'])} trees)", file=sys.stderr)


if __name__ == "__main__":
    main()

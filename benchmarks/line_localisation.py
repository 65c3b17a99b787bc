"""Which lines does the scan point at: occlusion against the lines a CVE fix changed, as LineVul measures it.

    PYTHONPATH=src python benchmarks/line_localisation.py \\
        --devign ../shared/datasets/devign/devign.jsonl.gz --pairvul ../shared/datasets/pairvul/pairvul.jsonl.gz \\
        [--functions 600 --seed 20261206 --params params.yaml --out benchmarks/results/line-localisation]

A benchmark, not a stage. The model is the lexical one (TF-IDF + logistic
regression, params.yaml's `lexical` section) trained with the repo's own code
(models/lexical.py, training/weights.py, data/trim.py, as the lexical branch
trains) on all of Devign (FFmpeg and QEMU), so it never saw the Linux kernel.
`--train pairvul-train` trains on PairVul's train split instead and scores its
test split, less the CVEs that also have pairs in train: an in-project reference for what occlusion finds when the model
knows the project. A one-model fusion is a monotone map of its model's probability, so the
lexical model's own line ranking is the scan's. The truth is PairVul's Linux
kernel CVE fixes: in each vulnerable function, the lines the fix deleted or
changed (a line diff against the fixed side); functions whose fix only adds
lines have no such line and are left out, as LineVul leaves them out. A seeded
sample of `--functions` of them keeps the run short on a shared machine.

Each method ranks a function's non-blank lines:
- occlusion, as the scan does it (scan/lines.py: at most MAX_VARIANTS units,
  blocks of consecutive lines in long functions; a block's lines in source
  order), and per line without the cap;
- random: the mean over `RANDOM_DRAWS` seeded shuffles;
- dangerous calls first: lines calling a function of data.trim.DANGEROUS_APIS
  (strcpy, memcpy, sprintf, malloc, free, ...) in source order, then the rest.
Figures (LineVul's): top-k accuracy, the share of functions with a changed
line among the k first; initial false alarm (IFA), the unchanged lines ranked
before the first changed one (mean and median). All functions, and those the
model flags (p >= 0.5).
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import json
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from streamguard.data.trim import DANGEROUS_CALL, trim_to_budget
from streamguard.models.lexical import LexicalConfig, LexicalModel
from streamguard.params import load_params
from streamguard.scan.lines import MAX_VARIANTS, blank, occlusion_units
from streamguard.training.weights import sample_weights

KS = (1, 5, 10)
RANDOM_DRAWS = 20
BOOTSTRAP = 2000
FLAGGED = 0.5


def _jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def changed_lines(vulnerable: str, fixed: str) -> set[int]:
    """0-based lines of `vulnerable` that the fix deleted or replaced (compared without surrounding whitespace)."""
    before = [line.strip() for line in vulnerable.split("\n")]
    after = [line.strip() for line in fixed.split("\n")]
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return {
        i
        for tag, i1, i2, _, _ in matcher.get_opcodes()
        if tag in ("replace", "delete")
        for i in range(i1, i2)
        if before[i]
    }


def occlusion_ranking(text: str, score: Callable[[list[str]], np.ndarray], max_variants: int) -> tuple[float, list]:
    """The function's probability and its non-blank lines, the units whose blanking lowers it most first."""
    units = occlusion_units(text, max_variants)
    probs = score([text] + [blank(text, u) for u in units])
    order = sorted(range(len(units)), key=lambda k: (-(probs[0] - probs[k + 1]), units[k][0]))
    lines = text.split("\n")
    return float(probs[0]), [i for k in order for i in range(units[k][0], units[k][1] + 1) if lines[i].strip()]


def dangerous_first(text: str) -> list[int]:
    lines = [(i, line) for i, line in enumerate(text.split("\n")) if line.strip()]
    return [i for i, line in lines if DANGEROUS_CALL.search(line)] + [
        i for i, line in lines if not DANGEROUS_CALL.search(line)
    ]


def figures(ranking: list[int], truth: set[int]) -> dict:
    first = next(r for r, i in enumerate(ranking) if i in truth)  # every function kept has a changed line
    return {**{f"top{k}": float(first < k) for k in KS}, "ifa": float(first)}


def random_figures(text: str, truth: set[int], rng: random.Random) -> dict:
    lines = [i for i, line in enumerate(text.split("\n")) if line.strip()]
    draws = [figures(rng.sample(lines, len(lines)), truth) for _ in range(RANDOM_DRAWS)]
    return {key: statistics.fmean(d[key] for d in draws) for key in draws[0]}


def _ci(values: np.ndarray, seed: int) -> list[float]:
    """95 % bootstrap interval of the mean over functions (`BOOTSTRAP` resamples, seeded)."""
    means = np.random.default_rng(seed).choice(values, (BOOTSTRAP, len(values))).mean(axis=1)
    return [round(float(q), 4) for q in np.quantile(means, [0.025, 0.975])]


def summarise(rows: list[dict], seed: int) -> dict:
    if not rows:
        return {"functions": 0}
    out: dict = {"functions": len(rows)}
    for k in KS:
        values = np.array([r[f"top{k}"] for r in rows])
        out[f"top{k}_accuracy"] = round(float(values.mean()), 4)
        out[f"top{k}_ci95"] = _ci(values, seed)
    ifa = np.array([r["ifa"] for r in rows])
    return {
        **out,
        "ifa_mean": round(float(ifa.mean()), 2),
        "ifa_ci95": _ci(ifa, seed),
        "ifa_median": float(np.median(ifa)),
    }


def paired_differences(ours: list[dict], other: list[dict], seed: int) -> dict:
    """Per function, ours minus other: the mean difference of each figure and its 95 % bootstrap interval."""
    out = {}
    for key in [f"top{k}" for k in KS] + ["ifa"]:
        diff = np.array([a[key] - b[key] for a, b in zip(ours, other)])
        out[key] = {"difference": round(float(diff.mean()), 4), "ci95": _ci(diff, seed)}
    return out


def training_functions(args: argparse.Namespace) -> tuple[list[tuple[str, int]], str]:
    """(text, label) the model trains on, and what they are."""
    if args.train == "devign":
        rows = _jsonl(args.devign)
        where = f"all of Devign ({len(rows)} functions: FFmpeg, QEMU); never the Linux kernel"
        return [(r["func"], int(r["target"])) for r in rows], where
    pairs = [p for p in _jsonl(args.pairvul) if p["split"] == "train"]
    where = f"PairVul's train split ({len(pairs)} kernel pairs, both sides): the same project, an in-project reference"
    return [(p[side], int(side == "vulnerable")) for p in pairs for side in ("vulnerable", "fixed")], where


def train_lexical(functions: list[tuple[str, int]], params_file: Path) -> Callable[[list[str]], np.ndarray]:
    params = load_params(params_file)
    texts = [trim_to_budget(text, params.data.max_chars).text for text, _ in functions]
    labels = [label for _, label in functions]
    weights = sample_weights(labels, [1.0] * len(labels))
    model = LexicalModel(LexicalConfig.of(params.lexical), seed=params.seed).fit(texts, labels, weights)

    def score(batch: list[str]) -> np.ndarray:  # trimmed as the scan's scorer trims
        return model.predict_proba([trim_to_budget(t, params.data.max_chars).text for t in batch])

    return score


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    functions, trained_on = training_functions(args)
    score = train_lexical(functions, args.params)
    train_s = time.perf_counter() - started
    every = _jsonl(args.pairvul)
    seen_cves = set() if args.train == "devign" else {p["cve_id"] for p in every if p["split"] == "train"}
    scored_splits = ("train", "test") if args.train == "devign" else ("test",)  # never a pair the model saw
    pairs = [
        p for p in every if p["vulnerable"].strip() and p["split"] in scored_splits and p["cve_id"] not in seen_cves
    ]
    with_truth = [(p, t) for p in pairs if (t := changed_lines(p["vulnerable"], p["fixed"]))]
    rng = random.Random(args.seed)
    sample = rng.sample(with_truth, min(args.functions, len(with_truth)))
    methods = ("occlusion_scan", "occlusion_per_line", "dangerous_calls_first", "random")
    per: dict[str, list[dict]] = {m: [] for m in methods}
    flagged: list[bool] = []
    lines_per_function = []
    for pair, truth in sample:
        text = pair["vulnerable"]
        p, scan_ranking = occlusion_ranking(text, score, MAX_VARIANTS)
        _, line_ranking = occlusion_ranking(text, score, len(text.split("\n")))
        per["occlusion_scan"].append(figures(scan_ranking, truth))
        per["occlusion_per_line"].append(figures(line_ranking, truth))
        per["dangerous_calls_first"].append(figures(dangerous_first(text), truth))
        per["random"].append(random_figures(text, truth, rng))
        flagged.append(p >= FLAGGED)
        lines_per_function.append(len(scan_ranking))
    return {
        "command": "PYTHONPATH=src python " + shlex.join(sys.argv),
        "model": {
            "kind": "lexical (TF-IDF + logistic regression), params.yaml lexical section",
            "trained_on": trained_on,
            "train_s": round(train_s, 1),
        },
        "truth": f"PairVul ({'/'.join(scored_splits)} split{', CVEs absent from train' if seen_cves else ''}) (Linux kernel CVE fixes): vulnerable-side lines the fix deleted or replaced",
        "pairs": len(pairs),
        "pairs_with_changed_lines": len(with_truth),
        "sample": {"functions": len(sample), "seed": args.seed},
        "non_blank_lines": {
            "median": statistics.median(lines_per_function),
            "mean": round(statistics.fmean(lines_per_function), 1),
        },
        "changed_lines_median": statistics.median(len(t) for _, t in sample),
        "max_variants": MAX_VARIANTS,
        "random_draws": RANDOM_DRAWS,
        "all": {m: summarise(per[m], args.seed) for m in methods},
        f"flagged_p_ge_{FLAGGED}": {
            m: summarise([r for r, f in zip(per[m], flagged) if f], args.seed) for m in methods
        },
        "occlusion_scan_minus": {
            m: paired_differences(per["occlusion_scan"], per[m], args.seed) for m in ("random", "dangerous_calls_first")
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }


def markdown(result: dict) -> str:
    head = "| method | functions | top-1 | top-5 | top-10 | IFA mean | IFA median |\n|---|---|---|---|---|---|---|\n"

    def cell(s: dict, key: str, ci: str) -> str:
        return f"{s[key]} [{s[ci][0]}, {s[ci][1]}]" if key in s else "-"

    def table(group: dict) -> str:
        return head + "".join(
            f"| {m} | {s['functions']} | "
            + " | ".join(cell(s, f"top{k}_accuracy", f"top{k}_ci95") for k in KS)
            + f" | {cell(s, 'ifa_mean', 'ifa_ci95')} | {s.get('ifa_median', '-')} |\n"
            for m, s in group.items()
        )

    flagged_key = next(k for k in result if k.startswith("flagged"))
    return (
        "# Line localisation: occlusion against the lines CVE fixes changed\n\n"
        f"Command: `{result['command']}`\n\n"
        f"Model: {result['model']['kind']}, trained on {result['model']['trained_on']}. "
        f"Truth: {result['truth']}. {result['pairs_with_changed_lines']} of {result['pairs']} pairs have such "
        f"lines; a sample of {result['sample']['functions']} (seed {result['sample']['seed']}), median "
        f"{result['non_blank_lines']['median']} non-blank lines and {result['changed_lines_median']} changed lines "
        f"per function. `occlusion_scan` is what `streamguard scan` reports (at most {result['max_variants']} "
        f"variants per function); random is the mean of {result['random_draws']} seeded shuffles. "
        "Brackets: 95 % bootstrap intervals over functions. "
        f"Run time {result['wall_s']} s on the shared 2-core machine (model training {result['model']['train_s']} s).\n\n"
        f"## All sampled vulnerable functions\n\n{table(result['all'])}\n"
        f"## Functions the model flags ({flagged_key})\n\n{table(result[flagged_key])}\n"
        "## occlusion_scan minus each reference, per function (paired; IFA: lower is better)\n\n"
        "| reference | top-1 | top-5 | top-10 | IFA |\n|---|---|---|---|---|\n"
        + "".join(
            f"| {m} | "
            + " | ".join(f"{d[key]['difference']} [{d[key]['ci95'][0]}, {d[key]['ci95'][1]}]" for key in d)
            + " |\n"
            for m, d in result["occlusion_scan_minus"].items()
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devign", type=Path, required=True)
    parser.add_argument("--pairvul", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--train",
        choices=("devign", "pairvul-train"),
        default="devign",
        help="the model's data: Devign (another project: the measurement), or PairVul's train split (a reference)",
    )
    parser.add_argument("--functions", type=int, default=600, help="vulnerable functions sampled (seeded)")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/line-localisation"))
    args = parser.parse_args()
    result = run(args)
    text = markdown(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    Path(f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

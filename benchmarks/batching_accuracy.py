"""Padded against length-bucketed batches: the transformer's test metrics and wall time, same seed, same data.

    nice python benchmarks/batching_accuracy.py --data ../shared/datasets/devign/devign.jsonl.gz \\
        --limit 4000 --out benchmarks/results/batching-accuracy -S transformer.epochs=2

On a fixed-seed stratified subsample (`data.limit`, preprocess's duplicate-aware
split), the transformer branch trains once per `transformer.batching` mode at
params.yaml plus the README's converged overrides (max_length 256, patience 3)
and -S overrides, keeps its best valid epoch, and scores the test split at 0.5.
Reports each mode's test metrics with bootstrap CIs, the paired difference
(bucketed - padded) with McNemar's exact test, and the CPU and wall time of
`fit` (tokenizer, encoding and every epoch's validation included). Writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import subsample
import torch

from streamguard.evaluation.metrics import bootstrap_metrics
from streamguard.evaluation.stats import paired_bootstrap_diff, paired_comparison
from streamguard.training.branches import TransformerBranch

CONVERGED = ["transformer.max_length=256", "transformer.patience=3"]
MODES = ("padded", "bucketed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subsample.add_arguments(ap, limit=4000)
    args = ap.parse_args()

    sets, params = subsample.params_for(args, CONVERGED)
    uptime = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    runs: dict[str, dict] = {}
    probs: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        processed, records = subsample.write_splits(args.data, params, tmp)
        for mode in MODES:
            mode_params = replace(
                params, transformer=replace(params.transformer, batching=mode, device="cpu", checkpoint_every=0)
            )
            branch = TransformerBranch(mode_params, processed, tmp)
            train, valid, test = (branch.load_items(s) for s in ("train", "valid", "test"))
            started, cpu_started = time.time(), time.process_time()
            info = branch.fit(train, valid, tmp / mode, tmp / f"ck_{mode}", params.seed)
            wall, cpu = time.time() - started, time.process_time() - cpu_started
            probs[mode] = branch.predict(test)
            y = np.asarray([r.target for r in test])
            runs[mode] = {
                "fit_wall_s": round(wall, 1),
                "fit_cpu_s": round(cpu, 1),
                "train_samples_per_cpu_s": round(len(train) * info["epochs_run"] / cpu, 2),
                "epochs_run": info["epochs_run"],
                "best_epoch": info["best_epoch"],
                "test": bootstrap_metrics(y, probs[mode], 0.5, 1000, 0.95, 0),
            }
            uptime.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
            print(mode, json.dumps(runs[mode]), flush=True)
    paired = paired_comparison(y, probs["bucketed"], 0.5, probs["padded"], 0.5, 1000, 0.95, 0)
    auc = paired_bootstrap_diff(y, probs["bucketed"], 0.5, probs["padded"], 0.5, "roc_auc", 1000, 0.95, 0)
    paired.update({f"roc_auc_{k}": auc[k] for k in ("diff", "ci_low", "ci_high")})
    report = {
        "command": " ".join(["python", *sys.argv]),
        "overrides": sets,
        "torch_threads": torch.get_num_threads(),
        "sizes": {s: sum(r.split == s for r in records) for s in ("train", "valid", "test")},
        "uptime": uptime,
        "runs": runs,
        "bucketed_minus_padded": paired,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(out.with_suffix(".md").read_text())


def markdown(report: dict) -> str:
    def ci(m: dict, key: str) -> str:
        return f"{m[key]:.3f} [{m[key + '_ci_low']:.3f}, {m[key + '_ci_high']:.3f}]"

    rows = [
        "| batching | test accuracy | ROC-AUC | MCC | epochs run (best) | fit CPU s (wall s) | samples per CPU s (fit) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in report["runs"].items():
        t = r["test"]
        rows.append(
            f"| {mode} | {ci(t, 'accuracy')} | {ci(t, 'roc_auc')} | {ci(t, 'mcc')} | {r['epochs_run']} "
            f"({r['best_epoch']}) | {r['fit_cpu_s']} ({r['fit_wall_s']}) | {r['train_samples_per_cpu_s']} |"
        )
    p = report["bucketed_minus_padded"]
    diff = (
        f"Bucketed - padded on the same {int(p['n'])} test functions: accuracy {p['accuracy_diff']:+.3f} "
        f"[{p['accuracy_diff_ci_low']:+.3f}, {p['accuracy_diff_ci_high']:+.3f}], McNemar p = {p['mcnemar_p']:.3g}; "
        f"ROC-AUC {p['roc_auc_diff']:+.3f} [{p['roc_auc_ci_low']:+.3f}, {p['roc_auc_ci_high']:+.3f}]."
    )
    return (
        "# Padded vs length-bucketed batches: transformer test metrics\n\n"
        f"Command: `{report['command']}`\n\n"
        f"Overrides: `{' '.join(report['overrides'])}`; split sizes {report['sizes']}; "
        f"{report['torch_threads']} torch thread(s); 95 % bootstrap CIs (1,000 resamples), threshold 0.5.\n\n"
        "Load (`uptime` before, after padded, after bucketed): "
        + "; ".join(f"`{u}`" for u in report["uptime"])
        + "\n\n"
        + "\n".join(rows)
        + "\n\n"
        + diff
        + "\n"
    )


if __name__ == "__main__":
    main()

"""The `pretrain` stage: a masked-language model of C, before any label is seen.

When transformer.init or gnn.token_init is 'pretrain': build the corpus (data/pretrain_corpus),
train a byte-level BPE tokenizer on its training part, cut functions into
windows, and train a RobertaForMaskedLM through the project's one training
loop (resume, checkpoints, dvclive curves of MLM loss and perplexity, best
epoch by valid loss). The model and tokenizer are saved with save_pretrained
in <out>/hf, where the train and oof stages' `--pretrained <out>` finds them.

Otherwise (the default, both scratch) the stage writes only
<out>/pretrain.json saying it was skipped and why, so a fresh
clone's pipeline stays within its time budget.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamguard.data.pretrain_corpus import build_corpus, read_corpus
from streamguard.errors import StreamGuardError
from streamguard.io.ranks import is_main_process
from streamguard.io.run_info import write_run_info
from streamguard.models import mlm
from streamguard.params import Params, PretrainParams, load_params, pretraining_wanted
from streamguard.progress import console
from streamguard.training.checkpoint_claim import checkpoint_claim

if TYPE_CHECKING:
    from streamguard.training.loop import TrainingTask

CORPUS_FILE = "corpus.jsonl"
REPORT_FILE = "corpus_report.json"


def is_valid_key(key: str, valid_fraction: float) -> bool:
    """Held out for the valid loss, decided by the text's hash: stable across runs and sources."""
    return int(key[:8], 16) % 100_000 < valid_fraction * 100_000


def run_pretrain(
    params: Params,
    processed_dir: Path,
    out_dir: Path,
    corpus_dir: Path,
    checkpoint_dir: Path,
    stop_after_steps: int | None = None,
) -> dict:
    """Pretrain (or record why not) into out_dir and corpus_dir; checkpoint_dir holds the resumable checkpoints."""
    if is_main_process():
        with checkpoint_claim(checkpoint_dir):
            return _pretrain(params, processed_dir, out_dir, corpus_dir, checkpoint_dir, stop_after_steps)
    # under torchrun rank 0 alone writes the stage's folders: every other rank builds the same corpus
    # and tokenizer in a scratch folder of its own (no shared disk needed), removed at the end
    with tempfile.TemporaryDirectory(prefix="streamguard-pretrain-") as scratch:
        private = Path(scratch)
        return _pretrain(params, processed_dir, private / "out", private / "corpus", checkpoint_dir, stop_after_steps)


def _pretrain(
    params: Params,
    processed_dir: Path,
    out_dir: Path,
    corpus_dir: Path,
    checkpoint_dir: Path,
    stop_after_steps: int | None,
) -> dict:
    cfg = params.pretrain
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    if not pretraining_wanted(params):
        return _skip(out_dir, corpus_dir)

    started = time.time()
    corpus_file = corpus_dir / CORPUS_FILE
    report = _corpus(cfg, processed_dir, corpus_file)

    from streamguard.models import transformer as tf
    from streamguard.training.loop import seed_everything, train  # after the skip: torch is slow to import

    seed_everything(params.seed)
    tokenizer = tf.train_tokenizer(_texts(corpus_file, cfg, valid=False), cfg.vocab_size, cfg.max_length)
    train_windows, valid_windows = _windows(cfg, tokenizer, corpus_file)
    report["tokens"] = train_windows.tokens
    report["valid_tokens"] = valid_windows.tokens
    report["train_windows"], report["valid_windows"] = len(train_windows), len(valid_windows)
    (corpus_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")

    model = mlm.build_mlm(tf.TransformerConfig.of(cfg), tokenizer)
    task = _mlm_task(params, model, tokenizer, train_windows, valid_windows, report["sha256"])
    loop_started = time.time()
    result = train(task, cfg, params.seed, out_dir, checkpoint_dir, stop_after_steps=stop_after_steps)
    loop_seconds = time.time() - loop_started
    tf.save(model, tokenizer, out_dir)
    best = next((h for h in result.history if h["step"] == result.best_step), {})
    status = {
        "status": "pretrained",
        "best_epoch": result.best_epoch,
        "best_step": result.best_step,
        "valid_loss": best.get("valid_loss"),
        "valid_perplexity": best.get("valid_perplexity"),
        "epochs_run": result.epochs_run,
        "train_tokens": train_windows.tokens,
        "corpus_functions": report["functions"],
        "corpus_sha256": report["sha256"],
        "resumed_from_step": result.resumed_from_step,
    }
    (out_dir / mlm.STATUS_FILE).write_text(json.dumps(status, indent=2) + "\n")
    write_run_info(
        out_dir,
        seed=params.seed,
        params=params.section("pretrain"),
        data_sha256={CORPUS_FILE: report["sha256"]},
        device=result.device,
        wall_time_s=time.time() - started,
        timings={"loop_seconds": loop_seconds},
        write=is_main_process(),
        history=result.history,
        pretrain=status,
    )
    return status


def _skip(out_dir: Path, corpus_dir: Path) -> dict:
    """Both branches start from scratch: record why nothing is pretrained, in the stage's outputs."""
    status: dict[str, Any] = {
        "status": "skipped",
        "why": "transformer.init is 'scratch' and gnn.token_init is 'scratch': both branches start from "
        "scratch, so nothing is pretrained. Set transformer.init: pretrain or gnn.token_init: pretrain "
        "(and pretrain.sources) to pretrain.",
    }
    (out_dir / mlm.STATUS_FILE).write_text(json.dumps(status, indent=2) + "\n")
    (corpus_dir / REPORT_FILE).write_text(json.dumps(status, indent=2) + "\n")
    (corpus_dir / CORPUS_FILE).write_text("")
    console.print(f"pretrain: skipped ({status['why']})")
    return status


def _corpus(cfg: PretrainParams, processed_dir: Path, corpus_file: Path) -> dict:
    """Build the corpus from pretrain.sources; its report (counts, drops, sha256)."""
    report = build_corpus(cfg, processed_dir, corpus_file).as_dict()
    console.print(
        f"pretrain corpus: {report['functions']} functions from {report['files_read']} files "
        f"({report['functions_per_s']} functions/s); drops {report['drops']}"
    )
    if report["functions"] < 2:
        raise StreamGuardError(
            f"pretrain: the corpus from pretrain.sources has {report['functions']} functions "
            f"(drops: {report['drops']}); nothing to pretrain on. Check the sources in params.yaml."
        )
    return report


def _texts(corpus_file: Path, cfg: PretrainParams, valid: bool) -> Iterator[str]:
    """The corpus's training (or held-out valid) texts, streamed."""
    return (row["text"] for row in read_corpus(corpus_file) if is_valid_key(row["key"], cfg.valid_fraction) == valid)


def _windows(cfg: PretrainParams, tokenizer: Any, corpus_file: Path) -> tuple[mlm.TokenWindows, mlm.TokenWindows]:
    """The training and valid texts cut into windows of max_length tokens (valid: at most max_valid_sequences)."""
    budget = cfg.max_length - 2
    train_windows = mlm.encode_windows(tokenizer, _texts(corpus_file, cfg, valid=False), budget, cfg.max_tokens)
    valid_windows = mlm.encode_windows(
        tokenizer, _texts(corpus_file, cfg, valid=True), budget, cfg.max_valid_sequences * budget
    )
    if len(train_windows) == 0 or len(valid_windows) == 0:
        raise StreamGuardError(
            f"pretrain: {len(train_windows)} training and {len(valid_windows)} valid windows; the corpus is too "
            "small for pretrain.valid_fraction. Add sources or raise valid_fraction."
        )
    return train_windows, mlm.TokenWindows(valid_windows.ids, valid_windows.starts[: cfg.max_valid_sequences + 1])


def _mlm_task(
    params: Params,
    model: Any,
    tokenizer: Any,
    train_windows: mlm.TokenWindows,
    valid_windows: mlm.TokenWindows,
    corpus_sha256: str,
) -> TrainingTask:
    """Masked-language modelling as a task of the one training loop: its own loss, validation and score."""
    from streamguard.training.loop import TrainingTask

    cfg = params.pretrain
    train_batches = mlm.MaskedBatches(tokenizer, train_windows, cfg.mlm_probability)
    valid_batches = mlm.MaskedBatches(tokenizer, valid_windows, cfg.mlm_probability).fixed_batches(
        cfg.batch_size, params.seed
    )
    return TrainingTask(
        name="pretrain",
        model=model,
        train_items=range(len(train_windows)),
        valid_items=range(len(valid_windows)),
        train_labels=[],
        train_confidence=[],
        valid_labels=[],
        collate=train_batches.collate,
        forward=_not_a_classifier,
        data_fingerprint=corpus_sha256 + f":{train_windows.tokens}",
        loss_fn=mlm.mlm_loss,
        validate=lambda m, device, _bs, dtype: mlm.mlm_summary(m, valid_batches, device, dtype),
        score_key="neg_loss",
        max_steps=cfg.max_steps,
        # each window is framed by <s> ... </s>
        item_sizes=[(1, int(k) + 2) for k in np.diff(train_windows.starts)] if cfg.batching == "bucketed" else None,
    )


def _not_a_classifier(model, batch, device):
    raise StreamGuardError("pretrain: the masked-language model has no classification logits")


def main(args: argparse.Namespace) -> None:
    run_pretrain(
        load_params(args.params),
        Path(args.processed),
        Path(args.out),
        Path(args.corpus),
        Path(args.checkpoints) / "pretrain",
    )

"""The one training loop both neural branches share.

A branch supplies a `TrainingTask` (model, items, collate and forward
functions; a task that is not a binary classifier, such as masked-language
pretraining, also supplies its own loss, validation summary and the summary
key early stopping maximises); everything else is here, once: AdamW with linear warm-up/decay
and weight decay on matrices only (`decay_groups`), clipping, accumulation,
confidence x class-balance weighting (loss or sampler), early stopping on a
valid metric (`early_stopping_metric`: MCC by default, or the
vulnerable-class F1, ROC-AUC, accuracy), AMP on CUDA,
step checkpoints and checkpoints on SIGTERM/SIGINT with `resume: auto`
(written atomically; an unreadable one is set aside, `training.checkpoints`),
seeded determinism, dvclive curves and a rich progress bar (in a log: plain
progress lines, streamguard.progress).

Resume is exact: each epoch's batches (`streamguard.training.batches`: padded,
or length-bucketed to a token budget when the task gives `item_sizes`) are a
pure function of (seed, epoch), so a resumed run skips the batches it already
took and sees the same batches an uninterrupted run would.

Data parallel (torchrun; `streamguard.training.distributed` has the details):
under WORLD_SIZE > 1 every rank walks the same global batches (global batch =
`batch_size`) and takes every W-th item of each; shards are neither padded nor
dropped, ranks stay in step because the schedule is global, and a rank's empty
slice of a short final batch adds a zero gradient. Gradients are summed across
ranks once per optimizer step, valid predictions are gathered before early
stopping, and rank 0 alone writes checkpoints, curves and model.pt. A
checkpoint holds the global step, so it resumes on any world size. With one
process none of this runs: no process group, no gathering, no sharding.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from streamguard.errors import StreamGuardError
from streamguard.metrics import classification_summary
from streamguard.params import TrainParams
from streamguard.progress import StepLines, epoch_line, make_progress
from streamguard.training import distributed
from streamguard.training.batches import ItemSizes, epoch_batches
from streamguard.training.checkpoints import atomic_torch_save, load_checkpoint
from streamguard.training.loss import weighted_cross_entropy as _weighted_loss
from streamguard.training.ranks import DistContext
from streamguard.training.weights import sample_weights


class TrainingInterrupted(StreamGuardError):
    """SIGTERM/SIGINT arrived; a checkpoint was written and `resume: auto` continues."""

    step: int = 0
    # the global step the checkpoint written on the way out holds
    global_step: int = 0
    # seconds spent in the step loop of this process (what benchmarks divide by)
    loop_seconds: float = 0.0


@dataclass
class TrainingTask:
    name: str
    model: nn.Module
    train_items: Sequence[Any]
    valid_items: Sequence[Any]
    train_labels: Sequence[int]
    train_confidence: Sequence[float]
    valid_labels: Sequence[int]
    # list of items -> batch (anything `forward` understands)
    collate: Callable[[list[Any]], Any]
    # (model, batch, device) -> logits [B, 2]
    forward: Callable[[nn.Module, Any, torch.device], torch.Tensor]
    # what the run depends on besides params (e.g. sha256 of the data); part of the resume fingerprint
    data_fingerprint: str = ""
    extra_info: dict = field(default_factory=dict)
    # Tasks other than binary classification (labels/confidence may then be empty):
    # (model, batch, device) -> mean training loss of the batch; None = class-weighted cross-entropy of `forward`
    loss_fn: Callable[[nn.Module, Any, torch.device], torch.Tensor] | None = None
    # (model, device, batch_size, amp dtype) -> valid summary; None = classification_summary of predict_probs
    validate: Callable[[nn.Module, torch.device, int, torch.dtype | None], dict[str, float]] | None = None
    # the summary key early stopping maximises; None = cfg.early_stopping_metric
    score_key: str | None = None
    # stop after this many optimizer steps (validating first); 0 = epochs decide
    max_steps: int = 0
    # per training item (rows it adds to a batch, tokens of its widest row): given, the loop's batches
    # are length-bucketed to a token budget (streamguard.training.batches); None = padded batches
    item_sizes: Sequence[tuple[int, int]] | None = None


@dataclass
class TrainingResult:
    best_epoch: int
    # the best valid value of `early_stopping_metric` (MCC by default)
    best_valid_score: float
    epochs_run: int
    history: list[dict]
    wall_time_s: float
    device: str
    resumed_from_step: int
    # the optimizer step of the kept weights (with validate_every_steps, inside best_epoch)
    best_step: int = -1


def select_device(requested: str) -> torch.device:
    """The device asked for; under data parallelism, `cuda` means this process's GPU (LOCAL_RANK)."""
    if requested != "auto":
        return distributed.local_device(torch.device(requested))
    if torch.cuda.is_available():
        return distributed.local_device(torch.device("cuda"))
    return torch.device("cpu")


def amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16 (with a scaler); none on CPU."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


# how many processes train is not part of what is trained: a checkpoint resumes on any world size
_NOT_IN_FINGERPRINT = ("nproc_per_node",)


def run_fingerprint(cfg: TrainParams, task: TrainingTask, seed: int) -> str:
    settings = {k: v for k, v in vars(cfg).items() if k not in _NOT_IN_FINGERPRINT}
    blob = json.dumps(
        {"cfg": settings, "seed": seed, "data": task.data_fingerprint, "name": task.name}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_CHECKPOINT_KEYS = ("fingerprint", "model", "optimizer", "scheduler", "torch_rng", "state")


class _StopSignal:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""

    def __init__(self) -> None:
        self.received: int | None = None

    @contextmanager
    def installed(self) -> Iterator[_StopSignal]:
        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave handlers alone
                pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum


@torch.no_grad()
def predict_probs(
    model: nn.Module,
    items: Sequence[Any],
    collate: Callable,
    forward: Callable,
    device: torch.device,
    batch_size: int,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """P(vulnerable) for each item, in order."""
    model.eval()
    out = []
    for start in range(0, len(items), batch_size):
        batch = collate(list(items[start : start + batch_size]))
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        with ctx:
            logits = forward(model, batch, device)
        out.append(torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: weight decay on matrices and embeddings only.

    Decided by shape, not by name: biases and every norm's scale are vectors
    (dim 1) whatever the module calls them (`LayerNorm.weight` in RoBERTa,
    `norms.0.weight` in the GNN), and decaying them only pulls them to zero.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def train(
    task: TrainingTask,
    cfg: TrainParams,
    seed: int,
    out_dir: Path,
    checkpoint_dir: Path,
    batch_size: int | None = None,
    stop_after_steps: int | None = None,
) -> TrainingResult:
    """Train `task.model` in place; leaves the best weights in it and in out_dir/model.pt.

    `stop_after_steps` simulates an interruption (tests): after that many
    global steps a checkpoint is written and TrainingInterrupted raised.
    """
    seed_everything(seed)
    started = time.time()
    device = select_device(cfg.device)
    ctx = distributed.join(device)
    dtype = amp_dtype(device, cfg.amp)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    model = task.model.to(device)
    batch_size = batch_size or cfg.batch_size
    n = len(task.train_items)
    if n == 0:
        raise StreamGuardError(f"{task.name}: the training split is empty; check data/processed/train.jsonl")
    classifier = task.loss_fn is None
    weights = sample_weights(task.train_labels, task.train_confidence) if classifier else np.ones(n)
    use_loss_weights = classifier and cfg.weighting == "loss"
    sampler_weights = weights if classifier and cfg.weighting == "sampler" else None
    sizes = None if task.item_sizes is None else ItemSizes.of(task.item_sizes)

    def plan(epoch: int) -> list[list[int]]:
        return epoch_batches(n, seed, epoch, batch_size, sampler_weights, sizes)

    batches_per_epoch = _batches_per_epoch(plan, sizes is not None, math.ceil(n / batch_size), cfg, task.max_steps)
    total_steps = sum(math.ceil(b / cfg.grad_accum) for b in batches_per_epoch)
    if task.max_steps:
        total_steps = min(total_steps, task.max_steps)
    optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)

    fingerprint = run_fingerprint(cfg, task, seed)
    if ctx.enabled:
        distributed.check_same_task(ctx, f"{fingerprint}:{n}:{_items_digest(task.train_items)}", device)
        distributed.broadcast_module(model)  # one starting point, whatever each rank's init drew
    if ctx.is_main:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = checkpoint_dir / "checkpoint.pt"
    best_path = checkpoint_dir / "best.pt"
    state: dict[str, Any] = {
        "epoch": 0,
        "batch_in_epoch": 0,
        "global_step": 0,
        "best_score": -math.inf,
        "best_epoch": -1,
        "best_step": -1,
        "bad_epochs": 0,
        "history": [],
        "accum_loss": 0.0,
        "accum_weight": 0.0,
    }
    resumed_from = 0
    # an unreadable checkpoint is set aside (with a warning) and the run starts fresh
    ckpt = load_checkpoint(ckpt_path, _CHECKPOINT_KEYS) if cfg.resume == "auto" and ctx.is_main else None
    if ctx.enabled:  # rank 0 read it; the other ranks (on other nodes, too) get it from rank 0
        ckpt = distributed.broadcast_object(ckpt if ckpt and ckpt["fingerprint"] == fingerprint else None, device)
    if ckpt is not None and ckpt["fingerprint"] == fingerprint:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"])
        state = json.loads(ckpt["state"])
        resumed_from = state["global_step"]

    def save_checkpoint(path: Path) -> None:
        if not ctx.is_main:
            return
        payload = {
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "state": json.dumps(state),
        }
        if scaler is not None:
            payload["scaler"] = scaler.state_dict()
        if device.type == "cuda":
            payload["cuda_rng"] = torch.cuda.get_rng_state()
        atomic_torch_save(payload, path)

    live = _open_live(out_dir, cfg, state["history"]) if ctx.is_main else _NoCurves()
    valid_y = np.asarray(task.valid_labels)

    def validation_round(epoch: int) -> bool:
        """Validate, log one curve point, keep the best weights; True when patience has run out."""
        if task.validate is not None:
            model.eval()
            with torch.no_grad():
                summary = task.validate(model, device, batch_size, dtype)
            if ctx.enabled:  # rank 0's summary decides for all
                summary = distributed.broadcast_object(summary, device)
        elif ctx.enabled:
            probs = _gathered_probs(model, task, device, batch_size, dtype, ctx)
            summary = classification_summary(valid_y, probs)
        else:
            probs = predict_probs(model, task.valid_items, task.collate, task.forward, device, batch_size, dtype)
            summary = classification_summary(valid_y, probs)
        model.train()
        record = {
            "epoch": epoch + 1,
            "step": state["global_step"],
            "train_loss": state["accum_loss"] / max(state["accum_weight"], 1),
            **{f"valid_{k}": v for k, v in summary.items()},
        }
        state["history"].append(record)
        live.log_epoch(record)
        progress.console.print(epoch_line(task.name, record), markup=False, highlight=False)
        state["accum_loss"] = state["accum_weight"] = 0.0
        score = summary[task.score_key or cfg.early_stopping_metric]
        if score > state["best_score"] or state["best_epoch"] < 0:  # NaN-safe: always keep one
            state["best_score"], state["best_epoch"], state["bad_epochs"] = score, epoch + 1, 0
            state["best_step"] = state["global_step"]
            if ctx.is_main:
                atomic_torch_save(model.state_dict(), best_path)
        else:
            state["bad_epochs"] += 1
        return state["bad_epochs"] >= cfg.patience

    stopper = _StopSignal()
    trainable = [p for p in model.parameters() if p.requires_grad]
    pending_loss = 0.0  # this rank's train-loss sum since the last all-reduce (data parallel)
    loop_started = time.time()
    patience_spent = False
    # where no live bar is drawn (a log), rank 0 prints a plain progress line at a steady interval
    lines = StepLines(task.name, total_steps, start_step=resumed_from, enabled=None if ctx.is_main else False)
    with stopper.installed(), make_progress(plain_lines=False) if ctx.is_main else _silent_progress() as progress:
        bar = progress.add_task(f"{task.name}", total=total_steps * cfg.grad_accum, info="")
        progress.update(bar, completed=sum(batches_per_epoch[: state["epoch"]]) + state["batch_in_epoch"])
        while state["epoch"] < cfg.epochs and not _budget_spent(task, state):
            epoch = state["epoch"]
            model.train()
            batches = plan(epoch)
            for b in range(state["batch_in_epoch"], len(batches)):
                global_idx = batches[b]
                idx = ctx.shard(global_idx)
                if ctx.enabled:  # dropout and masking draws depend on (batch, rank) only: resumable anywhere
                    torch.manual_seed(distributed.step_seed(seed, epoch, b, ctx.rank))
                shown_loss = math.nan
                if idx:  # a rank's slice of a short final batch may be empty: it adds no gradient
                    batch = task.collate([task.train_items[i] for i in idx])
                    amp = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
                    if task.loss_fn is not None:
                        with amp:
                            loss = task.loss_fn(model, batch, device).float() / cfg.grad_accum
                        if ctx.enabled:  # the batch mean, weighted by this rank's share of the global batch
                            loss = loss * (len(idx) / len(global_idx))
                    else:
                        y = torch.as_tensor([task.train_labels[i] for i in idx], device=device)
                        w = (
                            torch.as_tensor(weights[idx], dtype=torch.float32, device=device)
                            if use_loss_weights
                            else None
                        )
                        total = None
                        if ctx.enabled:  # the global batch's size or weight: each rank's part then sums to its mean
                            total = (
                                torch.as_tensor(weights[global_idx], dtype=torch.float32, device=device).sum()
                                if use_loss_weights
                                else torch.tensor(float(len(global_idx)), device=device)
                            )
                        with amp:
                            logits = task.forward(model, batch, device)
                        loss = _weighted_loss(logits, y, w, total) / cfg.grad_accum
                    (scaler.scale(loss) if scaler else loss).backward()
                    if ctx.enabled:
                        pending_loss += float(loss.detach()) * cfg.grad_accum * len(global_idx)
                        shown_loss = float(loss.detach()) * cfg.grad_accum * len(global_idx) / len(idx)
                    else:
                        state["accum_loss"] += float(loss.detach()) * cfg.grad_accum * len(idx)
                        shown_loss = float(loss.detach()) * cfg.grad_accum
                state["accum_weight"] += len(global_idx)
                last_of_epoch = b + 1 == len(batches)
                voted_stop = False  # data parallel: whether any rank had a stop signal at this step's all-reduce
                if (b + 1) % cfg.grad_accum == 0 or last_of_epoch:
                    if ctx.enabled:  # one call sums the gradients, the train loss and the ranks' stop signals
                        stop_votes, loss_sum = distributed.all_reduce_gradients(
                            trainable, [float(bool(stopper.received)), pending_loss]
                        )
                        state["accum_loss"] += loss_sum
                        pending_loss = 0.0
                        voted_stop = stop_votes > 0  # every rank stops at the same step
                    if scaler:
                        scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    if scaler:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    state["global_step"] += 1
                state["batch_in_epoch"] = b + 1
                progress.update(bar, advance=1, info=f"epoch {epoch + 1}/{cfg.epochs} loss {shown_loss:.4f}")
                lines.batch(state["global_step"], epoch + 1, shown_loss, len(global_idx))
                step = state["global_step"]
                at_boundary = (b + 1) % cfg.grad_accum == 0 or last_of_epoch
                stop_now = voted_stop if ctx.enabled else bool(stopper.received)
                if at_boundary and (stop_now or (stop_after_steps and step >= stop_after_steps)):
                    save_checkpoint(ckpt_path)
                    why = (
                        f"signal {stopper.received or 'on another rank'}"
                        if stop_now
                        else f"stop_after_steps={stop_after_steps}"
                    )
                    interrupted = TrainingInterrupted(
                        f"{task.name}: training stopped at step {step} ({why}); checkpoint written to {ckpt_path}. "
                        "Run the same command again (resume: auto) to continue."
                    )
                    interrupted.step, interrupted.loop_seconds = step - resumed_from, time.time() - loop_started
                    interrupted.global_step = step
                    raise interrupted
                if (
                    at_boundary
                    and cfg.validate_every_steps
                    and step % cfg.validate_every_steps == 0
                    and not last_of_epoch  # the epoch's end validates anyway
                    and not _budget_spent(task, state)  # ... and so does the end of the step budget
                ):
                    patience_spent = validation_round(epoch)
                    save_checkpoint(ckpt_path)  # a resume continues after this round, never repeats it
                    if patience_spent:
                        break
                if at_boundary and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    save_checkpoint(ckpt_path)
                if at_boundary and _budget_spent(task, state):
                    break  # the step budget ends this epoch early: validate and stop
            # end of epoch: validate, log, early-stop
            if not patience_spent:  # (spent: a round inside the epoch just validated and stopped it)
                patience_spent = validation_round(epoch)
            state["epoch"] += 1
            state["batch_in_epoch"] = 0
            save_checkpoint(ckpt_path)
            if patience_spent or _budget_spent(task, state):
                break
    if ctx.is_main:
        model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    if ctx.enabled:
        distributed.broadcast_module(model)  # the best epoch's weights, from rank 0's best.pt
    live.end()
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_torch_save({k: v.cpu() for k, v in model.state_dict().items()}, out_dir / "model.pt")
        _remove_checkpoints(checkpoint_dir)
    return TrainingResult(
        best_epoch=state["best_epoch"],
        best_valid_score=state["best_score"],
        epochs_run=state["epoch"],
        history=state["history"],
        wall_time_s=time.time() - started,
        device=str(device),
        resumed_from_step=resumed_from,
        best_step=state["best_step"],
    )


def _remove_checkpoints(checkpoint_dir: Path) -> None:
    """A finished run leaves no checkpoint behind: the next run with other params starts clean.

    (A set-aside *.corrupt file stays for inspection.)
    """
    for leftover in checkpoint_dir.iterdir():
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.suffix != ".corrupt":
            leftover.unlink()
    if not any(checkpoint_dir.iterdir()):
        checkpoint_dir.rmdir()


def _items_digest(items: Sequence[Any]) -> str:
    """A cheap look at the items (first, middle, last): ranks that built different ones differ here."""
    picks = sorted({0, len(items) // 2, len(items) - 1}) if len(items) else []
    return hashlib.sha256("\n".join(repr(items[i]) for i in picks).encode()).hexdigest()[:16]


def _gathered_probs(
    model: nn.Module,
    task: TrainingTask,
    device: torch.device,
    batch_size: int,
    dtype: torch.dtype | None,
    ctx: DistContext,
) -> np.ndarray:
    """Valid probabilities, the batches dealt round-robin to ranks and gathered on every rank.

    The batches are the ones one process would use, so each probability is the one it would compute.
    """
    items = task.valid_items
    mine = {
        start: predict_probs(
            model, items[start : start + batch_size], task.collate, task.forward, device, batch_size, dtype
        )
        for k, start in enumerate(range(0, len(items), batch_size))
        if k % ctx.world_size == ctx.rank
    }
    parts = distributed.gather_in_order(mine, device)
    return np.concatenate(parts) if parts else np.zeros(0)


def _silent_progress() -> Any:
    """A progress display for ranks other than 0: nothing is drawn or printed."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(file=io.StringIO()), disable=True)


class _NoCurves:
    """What ranks other than 0 log curves to."""

    def log_epoch(self, record: dict) -> None:
        pass

    def end(self) -> None:
        pass


def _batches_per_epoch(
    plan: Callable[[int], list[list[int]]], bucketed: bool, padded: int, cfg: TrainParams, max_steps: int
) -> list[int]:
    """How many batches each epoch takes (the scheduler's length); bucketed epochs differ a little.

    Epochs past a step budget (`max_steps`) are never reached and are not planned.
    """
    if not bucketed:
        return [padded] * cfg.epochs
    counts: list[int] = []
    steps = 0
    for epoch in range(cfg.epochs):
        counts.append(len(plan(epoch)))
        steps += math.ceil(counts[-1] / cfg.grad_accum)
        if max_steps and steps >= max_steps:
            break
    return counts


def _budget_spent(task: TrainingTask, state: dict[str, Any]) -> bool:
    return bool(task.max_steps) and state["global_step"] >= task.max_steps


@dataclass
class _CurveLog:
    """Per-epoch curves: dvclive (for `dvc plots`) and, optionally, TensorBoard."""

    live: Any
    tensorboard: Any = None

    def log_epoch(self, record: dict) -> None:
        for key, value in record.items():
            if (
                key not in ("epoch", "step")
                and value is not None
                and not (isinstance(value, float) and math.isnan(value))
            ):
                self.live.log_metric(key, value)
                if self.tensorboard is not None:
                    self.tensorboard.add_scalar(key, value, record["epoch"])
        self.live.next_step()

    def end(self) -> None:
        self.live.end()
        if self.tensorboard is not None:
            self.tensorboard.close()


def _open_live(out_dir: Path, cfg: TrainParams, history: list[dict]) -> _CurveLog:
    """dvclive writes per-epoch curves to out_dir/live; replays history after a resume."""
    from dvclive import Live

    live_dir = out_dir / "live"
    shutil.rmtree(live_dir, ignore_errors=True)
    curves = _CurveLog(Live(str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None))
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise StreamGuardError(
                "tensorboard: true needs the tensorboard package; `pip install tensorboard` or set it to false"
            ) from exc
        curves.tensorboard = SummaryWriter(str(out_dir / "tensorboard"))
    for record in history:
        curves.log_epoch(record)
    return curves

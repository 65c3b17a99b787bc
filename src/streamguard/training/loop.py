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

How it reads: `train` is the loop. `TrainSetup` holds what stays fixed (device,
model, optimizer, schedule, the epochs' plan), `TrainState` what moves (and what
a checkpoint saves of it), `step` takes one optimizer step over an accumulation
window, `validation_round` validates (`validate`), logs a curve point and keeps
the best weights, and `training.checkpoints.Checkpointer` reads and writes the
checkpoint folder.

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
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from streamguard.errors import StreamGuardError
from streamguard.io.ranks import DistContext
from streamguard.metrics import classification_summary
from streamguard.models.inference import predict_probs, select_device
from streamguard.params import TrainParams
from streamguard.progress import StepLines, epoch_line, make_progress
from streamguard.training import distributed
from streamguard.training.batches import ItemSizes, epoch_batches
from streamguard.training.checkpoints import Checkpointer, atomic_torch_save
from streamguard.training.loss import weighted_cross_entropy
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


@dataclass
class TrainState:
    """Where a run stands; a checkpoint's "state" entry is this as JSON, and a resume continues from it."""

    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already taken
    global_step: int = 0  # optimizer steps, over all epochs
    # early stopping: the best valid score so far, the round that reached it, rounds since
    best_score: float = -math.inf
    best_epoch: int = -1
    best_step: int = -1
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)  # one record (curve point) per validation round
    # train loss summed over the items since the last validation round, and how many items
    accum_loss: float = 0.0
    accum_weight: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TrainState:
        return cls(**json.loads(text))


@dataclass
class TrainSetup:
    """What stays fixed through one call of `train`: the task and its settings, where and how it steps."""

    task: TrainingTask
    cfg: TrainParams
    seed: int
    batch_size: int
    device: torch.device
    dtype: torch.dtype | None  # autocast's; None = full precision
    scaler: torch.amp.GradScaler | None  # fp16 only
    ctx: DistContext
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    # per training item: confidence x class balance (ones for a task with its own loss)
    weights: np.ndarray
    use_loss_weights: bool
    plan: Callable[[int], list[list[int]]]  # epoch -> its batches of training item indices
    batches_per_epoch: list[int]
    total_steps: int

    @classmethod
    def build(cls, task: TrainingTask, cfg: TrainParams, seed: int, batch_size: int | None) -> TrainSetup:
        """Device, process group, AMP, loss weights, the epochs' plan, AdamW and its linear schedule."""
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
        sampler_weights = weights if classifier and cfg.weighting == "sampler" else None
        sizes = None if task.item_sizes is None else ItemSizes.of(task.item_sizes)

        # the epoch's batches of training item indices: a pure function of (seed, epoch)
        plan = partial(epoch_batches, n, seed, batch_size=batch_size, weights=sampler_weights, sizes=sizes)
        batches_per_epoch = _batches_per_epoch(plan, sizes is not None, math.ceil(n / batch_size), cfg, task.max_steps)
        total_steps = sum(math.ceil(b / cfg.grad_accum) for b in batches_per_epoch)
        if task.max_steps:
            total_steps = min(total_steps, task.max_steps)
        optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.learning_rate)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
        return cls(
            task=task,
            cfg=cfg,
            seed=seed,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            scaler=scaler,
            ctx=ctx,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            weights=weights,
            use_loss_weights=classifier and cfg.weighting == "loss",
            plan=plan,
            batches_per_epoch=batches_per_epoch,
            total_steps=total_steps,
        )

    @property
    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]


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
    s = TrainSetup.build(task, cfg, seed, batch_size)
    fingerprint = run_fingerprint(cfg, task, seed)
    if s.ctx.enabled:  # the same items on every rank, and one starting point, whatever each rank's init drew
        distributed.check_same_task(
            s.ctx, f"{fingerprint}:{len(task.train_items)}:{_items_digest(task.train_items)}", s.device
        )
        distributed.broadcast_module(s.model)
    checkpoints = Checkpointer(checkpoint_dir, fingerprint, s.ctx)
    saved = checkpoints.resume(s, wanted=cfg.resume == "auto")
    state = TrainState.from_json(saved) if saved is not None else TrainState()
    resumed_from = state.global_step
    curves = _open_live(out_dir, cfg, state.history) if s.ctx.is_main else _NoCurves()
    loop_started = time.time()
    patience_spent = False
    with _StopSignal().installed() as stopper, _Display.shown(s, state, resumed_from) as display:
        while state.epoch < cfg.epochs and not _budget_spent(task, state):
            s.model.train()
            batches = s.plan(state.epoch)
            for first in range(state.batch_in_epoch, len(batches), cfg.grad_accum):
                stop_now = step(s, state, batches[first : first + cfg.grad_accum], first, stopper, display)
                end_of_epoch = state.batch_in_epoch == len(batches)
                if stop_now or (stop_after_steps and state.global_step >= stop_after_steps):
                    checkpoints.save(s, state.to_json())
                    why = (
                        f"signal {stopper.received or 'on another rank'}"
                        if stop_now
                        else f"stop_after_steps={stop_after_steps}"
                    )
                    raise _interrupted(task.name, state.global_step, why, checkpoints.path, resumed_from, loop_started)
                if (
                    cfg.validate_every_steps
                    and state.global_step % cfg.validate_every_steps == 0
                    and not end_of_epoch  # the epoch's end validates anyway
                    and not _budget_spent(task, state)  # ... and so does the end of the step budget
                ):
                    patience_spent = validation_round(s, state, curves, display, checkpoints)
                    checkpoints.save(s, state.to_json())  # a resume continues after this round, never repeats it
                    if patience_spent:
                        break
                if cfg.checkpoint_every and state.global_step % cfg.checkpoint_every == 0:
                    checkpoints.save(s, state.to_json())
                if _budget_spent(task, state):
                    break  # the step budget ends this epoch early: validate and stop
            if not patience_spent:  # (spent: a round inside the epoch just validated and stopped it)
                patience_spent = validation_round(s, state, curves, display, checkpoints)
            state.epoch += 1
            state.batch_in_epoch = 0
            checkpoints.save(s, state.to_json())
            if patience_spent or _budget_spent(task, state):
                break
    checkpoints.load_best(s.model, s.device)
    if s.ctx.enabled:
        distributed.broadcast_module(s.model)  # the best epoch's weights, from rank 0's best.pt
    curves.end()
    if s.ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_torch_save({k: v.cpu() for k, v in s.model.state_dict().items()}, out_dir / "model.pt")
        checkpoints.remove()
    return TrainingResult(
        best_epoch=state.best_epoch,
        best_valid_score=state.best_score,
        epochs_run=state.epoch,
        history=state.history,
        wall_time_s=time.time() - started,
        device=str(s.device),
        resumed_from_step=resumed_from,
        best_step=state.best_step,
    )


def step(
    s: TrainSetup,
    state: TrainState,
    window: list[list[int]],
    first: int,
    stopper: _StopSignal,
    display: _Display,
) -> bool:
    """One optimizer step: forward and backward through each batch of an accumulation window.

    `window` holds batches `first`, `first + 1`, ... of the epoch (global batches: under data parallelism
    each rank takes its share). Returns whether to stop here: a signal arrived (on any rank).
    """
    cfg, ctx = s.cfg, s.ctx
    pending_loss = 0.0  # this rank's train-loss sum since the last all-reduce (data parallel)
    voted_stop = False
    for b, global_idx in enumerate(window, start=first):
        idx = ctx.shard(global_idx)
        if ctx.enabled:  # dropout and masking draws depend on (batch, rank) only: resumable anywhere
            torch.manual_seed(distributed.step_seed(s.seed, state.epoch, b, ctx.rank))
        shown_loss = math.nan
        if idx:  # a rank's slice of a short final batch may be empty: it adds no gradient
            loss = _micro_batch_loss(s, idx, global_idx)
            (s.scaler.scale(loss) if s.scaler else loss).backward()
            if ctx.enabled:
                pending_loss += float(loss.detach()) * cfg.grad_accum * len(global_idx)
                shown_loss = float(loss.detach()) * cfg.grad_accum * len(global_idx) / len(idx)
            else:
                state.accum_loss += float(loss.detach()) * cfg.grad_accum * len(idx)
                shown_loss = float(loss.detach()) * cfg.grad_accum
        state.accum_weight += len(global_idx)
        if b == first + len(window) - 1:
            voted_stop = _optimizer_step(s, state, pending_loss, stopper)
        state.batch_in_epoch = b + 1
        display.batch(state.global_step, state.epoch, shown_loss, len(global_idx))
    return voted_stop if ctx.enabled else bool(stopper.received)


def _micro_batch_loss(s: TrainSetup, idx: list[int], global_idx: list[int]) -> torch.Tensor:
    """This rank's part of one batch's loss, divided over the accumulation window."""
    task, cfg, device = s.task, s.cfg, s.device
    batch = task.collate([task.train_items[i] for i in idx])
    amp = torch.autocast(device.type, dtype=s.dtype) if s.dtype else nullcontext()
    if task.loss_fn is not None:
        with amp:
            loss = task.loss_fn(s.model, batch, device).float() / cfg.grad_accum
        if s.ctx.enabled:  # the batch mean, weighted by this rank's share of the global batch
            loss = loss * (len(idx) / len(global_idx))
        return loss
    y = torch.as_tensor([task.train_labels[i] for i in idx], device=device)
    w = torch.as_tensor(s.weights[idx], dtype=torch.float32, device=device) if s.use_loss_weights else None
    total = None
    if s.ctx.enabled:  # the global batch's size or weight: each rank's part then sums to its mean
        total = (
            torch.as_tensor(s.weights[global_idx], dtype=torch.float32, device=device).sum()
            if s.use_loss_weights
            else torch.tensor(float(len(global_idx)), device=device)
        )
    with amp:
        logits = task.forward(s.model, batch, device)
    return weighted_cross_entropy(logits, y, w, total) / cfg.grad_accum


def _optimizer_step(s: TrainSetup, state: TrainState, pending_loss: float, stopper: _StopSignal) -> bool:
    """Clip, step, schedule; data parallel: one all-reduce first sums the gradients, train loss and stop signals.

    Returns whether any rank had a stop signal (data parallel; every rank then stops at this step).
    """
    voted_stop = False
    if s.ctx.enabled:
        stop_votes, loss_sum = distributed.all_reduce_gradients(
            s.trainable, [float(bool(stopper.received)), pending_loss]
        )
        state.accum_loss += loss_sum
        voted_stop = stop_votes > 0
    if s.scaler:
        s.scaler.unscale_(s.optimizer)
    nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.grad_clip)
    if s.scaler:
        s.scaler.step(s.optimizer)
        s.scaler.update()
    else:
        s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    state.global_step += 1
    return voted_stop


def validate(s: TrainSetup) -> dict[str, float]:
    """The valid summary, the same on every rank: the task's own, or classification metrics of P(vulnerable)."""
    task, model = s.task, s.model
    valid_y = np.asarray(task.valid_labels)
    if task.validate is not None:
        model.eval()
        with torch.no_grad():
            summary = task.validate(model, s.device, s.batch_size, s.dtype)
        if s.ctx.enabled:  # rank 0's summary decides for all
            summary = distributed.broadcast_object(summary, s.device)
    elif s.ctx.enabled:
        probs = _gathered_probs(model, task, s.device, s.batch_size, s.dtype, s.ctx)
        summary = classification_summary(valid_y, probs)
    else:
        probs = predict_probs(model, task.valid_items, task.collate, task.forward, s.device, s.batch_size, s.dtype)
        summary = classification_summary(valid_y, probs)
    model.train()
    return summary


def validation_round(
    s: TrainSetup, state: TrainState, curves: _CurveLog | _NoCurves, display: _Display, checkpoints: Checkpointer
) -> bool:
    """Validate, log one curve point, keep the best weights; True when patience has run out."""
    summary = validate(s)
    record = {
        "epoch": state.epoch + 1,
        "step": state.global_step,
        "train_loss": state.accum_loss / max(state.accum_weight, 1),
        **{f"valid_{k}": v for k, v in summary.items()},
    }
    state.history.append(record)
    curves.log_epoch(record)
    display.round(record)
    state.accum_loss = state.accum_weight = 0.0
    score = summary[s.task.score_key or s.cfg.early_stopping_metric]
    if score > state.best_score or state.best_epoch < 0:  # NaN-safe: always keep one
        state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch + 1, 0
        state.best_step = state.global_step
        checkpoints.save_best(s.model)
    else:
        state.bad_epochs += 1
    return state.bad_epochs >= s.cfg.patience


def _interrupted(
    name: str, step: int, why: str, path: Path, resumed_from: int, loop_started: float
) -> TrainingInterrupted:
    interrupted = TrainingInterrupted(
        f"{name}: training stopped at step {step} ({why}); checkpoint written to {path}. "
        "Run the same command again (resume: auto) to continue."
    )
    interrupted.step, interrupted.loop_seconds = step - resumed_from, time.time() - loop_started
    interrupted.global_step = step
    return interrupted


class _Display:
    """What a run shows (rank 0 only): a live bar or, in a log, plain step lines; a line per validation round."""

    def __init__(self, progress: Any, bar: Any, lines: StepLines, name: str, epochs: int) -> None:
        self.progress, self.bar, self.lines, self.name, self.epochs = progress, bar, lines, name, epochs

    @classmethod
    @contextmanager
    def shown(cls, s: TrainSetup, state: TrainState, resumed_from: int) -> Iterator[_Display]:
        # where no live bar is drawn (a log), rank 0 prints a plain progress line at a steady interval
        lines = StepLines(s.task.name, s.total_steps, start_step=resumed_from, enabled=None if s.ctx.is_main else False)
        with make_progress(plain_lines=False) if s.ctx.is_main else _silent_progress() as progress:
            bar = progress.add_task(s.task.name, total=s.total_steps * s.cfg.grad_accum, info="")
            progress.update(bar, completed=sum(s.batches_per_epoch[: state.epoch]) + state.batch_in_epoch)
            yield cls(progress, bar, lines, s.task.name, s.cfg.epochs)

    def batch(self, step: int, epoch: int, loss: float, samples: int) -> None:
        self.progress.update(self.bar, advance=1, info=f"epoch {epoch + 1}/{self.epochs} loss {loss:.4f}")
        self.lines.batch(step, epoch + 1, loss, samples)

    def round(self, record: dict) -> None:
        self.progress.console.print(epoch_line(self.name, record), markup=False, highlight=False)


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


def _budget_spent(task: TrainingTask, state: TrainState) -> bool:
    return bool(task.max_steps) and state.global_step >= task.max_steps


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

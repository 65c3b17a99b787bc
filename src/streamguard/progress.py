"""Progress display shared by every long step: a live bar on a terminal, plain lines in logs.

On a terminal rich draws a live bar with an ETA. Where stderr is not a
terminal (CI, `dvc exp run > log`, `dvc queue logs`, SageMaker/CloudWatch)
no bar is drawn; instead each long step prints one plain line at a steady
interval: at its first update, then every `STREAMGUARD_PROGRESS_SECONDS`
seconds of wall time (default 30; 0 prints every update), and at its end.

The training loop's line (`StepLines`) is fixed, so metric definitions can
parse it (`TRAINING_LINE`, `METRIC_REGEXES`):

    transformer step 120/2400 epoch 1 loss 0.6931 samples/s 85.3 eta 1620s

Other steps print `<name> <done>/<total> <info> elapsed <s>s eta <s>s`.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from streamguard.errors import StreamGuardError

# stderr keeps stdout free for machine-readable output (predict, compare --md)
console = Console(stderr=True, soft_wrap=True)

INTERVAL_ENV = "STREAMGUARD_PROGRESS_SECONDS"
DEFAULT_INTERVAL_S = 30.0

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
TRAINING_LINE = re.compile(
    rf"step (?P<step>\d+)/(?P<total>\d+) epoch (?P<epoch>\d+) loss (?P<loss>{_NUMBER}|nan) "
    rf"samples/s (?P<samples_per_s>{_NUMBER}) eta (?P<eta_s>\d+)s"
)
# one capture group each, as SageMaker's MetricDefinitions expect
METRIC_REGEXES = {
    "train:step": r"step (\d+)/\d+ epoch \d+ loss",
    "train:epoch": r"step \d+/\d+ epoch (\d+) loss",
    "train:loss": rf"step \d+/\d+ epoch \d+ loss ({_NUMBER})",
    "train:samples_per_second": rf"samples/s ({_NUMBER}) eta",
    "train:eta_seconds": r"samples/s [0-9.]+ eta (\d+)s",
}
# the loop's line after each validation carries every curve it logs (dvclive names), e.g.
#   transformer epoch 2: train_loss 0.6712  valid_loss 0.6801  valid_f1 0.5123  ...  (step 240)
# classification runs log train_loss and valid_{loss,f1,accuracy,mcc,roc_auc}; pretraining
# train_loss and valid_{loss,perplexity,neg_loss}
EPOCH_CURVES = (
    "train_loss",
    "valid_loss",
    "valid_f1",
    "valid_accuracy",
    "valid_mcc",
    "valid_roc_auc",
    "valid_perplexity",
    "valid_neg_loss",
)
EPOCH_METRIC_REGEXES = {f"epoch:{curve}": rf"epoch \d+: (?:.* )?{curve} (-?{_NUMBER})" for curve in EPOCH_CURVES}


def epoch_line(name: str, record: dict[str, Any]) -> str:
    """`<name> epoch <n>: <curve> <value>  ...  (step <s>)`, every curve of `record` by its logged name."""
    curves = "  ".join(f"{key} {value:.4f}" for key, value in record.items() if key not in ("epoch", "step"))
    return f"{name} epoch {record['epoch']}: {curves}  (step {record['step']})"


def line_interval() -> float:
    """Seconds between plain progress lines, from STREAMGUARD_PROGRESS_SECONDS (default 30)."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise StreamGuardError(
            f"{INTERVAL_ENV}={raw!r}: not a number of seconds; set it to 0 or more (e.g. 30) or unset it"
        )
    return seconds


def live_bar_shown() -> bool:
    """Whether a live bar is drawn (stderr is a terminal); where it is not, plain lines take its place."""
    return console.is_terminal


class StepLines:
    """The training loop's plain progress lines: step, epoch, mean loss since the last line, samples/s, ETA.

    `batch` is called after every batch; a line is printed when the optimizer step has advanced and it is
    the first step of this process, the last of the run, or `interval_s` has passed since the last line.
    """

    def __init__(
        self,
        name: str,
        total_steps: int,
        start_step: int = 0,
        enabled: bool | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        out: Console = console,
    ) -> None:
        self.name, self.total, self.out, self.clock = name, total_steps, out, clock
        self.enabled = not live_bar_shown() if enabled is None else enabled
        self.interval = line_interval() if interval_s is None else interval_s
        self.start_step, self.started = start_step, clock()
        self.seen_step, self.last_time, self.printed_any = start_step, self.started, False
        self.losses: list[float] = []
        self.samples = 0

    def batch(self, step: int, epoch: int, loss: float, samples: int) -> None:
        if not self.enabled:
            return
        if not math.isnan(loss):
            self.losses.append(loss)
        self.samples += samples
        advanced, self.seen_step = step != self.seen_step, step
        if not advanced:  # a batch inside an accumulated optimizer step
            return
        now = self.clock()
        if self.printed_any and step < self.total and now - self.last_time < self.interval:
            return
        self.out.print(self.line(step, epoch, now), markup=False, highlight=False, soft_wrap=True)
        self.last_time, self.printed_any = now, True
        self.losses, self.samples = [], 0

    def line(self, step: int, epoch: int, now: float) -> str:
        loss = sum(self.losses) / len(self.losses) if self.losses else math.nan
        rate = self.samples / max(now - self.last_time, 1e-9)
        per_step = (now - self.started) / max(step - self.start_step, 1)
        eta = round(per_step * max(self.total - step, 0))
        return f"{self.name} step {step}/{self.total} epoch {epoch} loss {loss:.4f} samples/s {rate:.1f} eta {eta}s"


class _Progress(Progress):
    """A rich Progress that, where no live bar is drawn, prints a plain line per task at a steady interval."""

    def __init__(self, *columns: Any, plain_lines: bool, **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self._lines = plain_lines and self.disable
        self._interval = line_interval() if self._lines else math.inf
        self._last_line: dict[TaskID, float] = {}

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        if self._lines:
            self._maybe_line(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        if self._lines:
            self._maybe_line(task_id)

    def _maybe_line(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        last = self._last_line.get(task_id)
        if last == math.inf or (last is not None and not done and now - last < self._interval):
            return  # its end was printed, or the interval has not passed
        self._last_line[task_id] = math.inf if done else now
        elapsed = task.elapsed or 0.0
        count = f"{task.completed:.0f}" + (f"/{task.total:.0f}" if task.total is not None else "")
        eta = ""
        if task.total is not None and task.completed:
            eta = f" eta {round(elapsed / task.completed * max(task.total - task.completed, 0))}s"
        info = task.fields.get("info", "")
        text = " ".join(part for part in (task.description, count, info) if part)
        self.console.print(f"{text} elapsed {round(elapsed)}s{eta}", markup=False, highlight=False, soft_wrap=True)


def make_progress(plain_lines: bool = True) -> Progress:
    """A live bar on a terminal; elsewhere none, and (with `plain_lines`) a plain line at a steady interval."""
    return _Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        # a live bar only on a terminal; logs (DVC, CI) get no redraw noise
        disable=not console.is_terminal,
        plain_lines=plain_lines,
    )

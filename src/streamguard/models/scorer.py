"""The trained models of a models folder, loaded once, scoring C functions: what `predict` and `scan` run.

`Scorer` loads every base model the fusion uses (each seed ensemble member,
after opening its weight files the safe way) and the stacker, then scores
batches of records: each function is trimmed exactly as `preprocess` trims
training data, scored by every model, and fused; `predicted` is the model's
decision at the fusion's validated threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamguard.data.records import Record
from streamguard.data.trim import trim_to_budget
from streamguard.errors import StreamGuardError
from streamguard.models.registry import GRAPH_MODELS, NEURAL_MODELS, TEXT_MODELS
from streamguard.params import Params

if TYPE_CHECKING:
    from streamguard.graphs.vocab import Vocab

# a model folder's weight files, each opened the safe way before the model loads from it
WEIGHT_SUFFIXES = (".npz", ".pt", ".safetensors")


def _tampered(path: Path, exc: BaseException) -> StreamGuardError:
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    return StreamGuardError(
        f"{path}: cannot be loaded ({type(exc).__name__}: {text}); the file may be corrupt or tampered with. "
        "Nothing in it was run. Restore the models (dvc pull, or dvc repro) or fetch a registered version (--model)"
    )


def check_weight_files(folder: Path) -> None:
    """Open every weight file of a model folder without running code from it; an error names the first damaged one."""
    for path in sorted(p for p in folder.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES) and p.is_file()):
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as arrays:
                    for key in arrays.files:
                        arrays[key]  # an object array (a pickle) fails here
            elif path.suffix == ".pt":
                import torch

                torch.load(path, map_location="cpu", weights_only=True)
            else:
                from safetensors import safe_open

                with safe_open(str(path), "pt") as tensors:  # the header is checked against the file's length
                    tensors.keys()
        except Exception as exc:  # noqa: BLE001 - whatever a damaged file raises, the message names the file
            raise _tampered(path, exc) from None


def load_member(model: str, params: Params, folder: Path, graphs_dir: Path):
    """One trained model from its folder; a damaged or tampered file is an error naming it, never a traceback."""
    check_weight_files(folder)
    if model in TEXT_MODELS:
        from streamguard.models.text_models import load_text_model

        return load_text_model(model, folder)
    from streamguard.models.branches import load_branch

    try:
        return load_branch(model, params, folder, graphs_dir)
    except StreamGuardError:
        raise
    except Exception as exc:  # noqa: BLE001 - files that open but do not fit the model (a missing array, a shape)
        archives = sorted(folder.glob("*.npz"))
        where = archives[0] if isinstance(exc, KeyError) and len(archives) == 1 else folder
        raise _tampered(where, exc) from None


class Scorer:
    """Every base model the fusion uses plus the stacker, loaded once to score many batches (`scan` streams)."""

    def __init__(self, models_dir: Path, graphs_dir: Path, params: Params):
        from streamguard.models.fusion import load_stacker

        self.params = params
        self.models_dir = models_dir
        self.stacker, self.fusion = load_stacker(models_dir / "fusion")
        self.models: list[str] = list(self.fusion["models"])
        # a fusion of models the torch loop does not train scores without importing torch
        self.uses_torch = any(m in NEURAL_MODELS for m in self.models)
        self.threshold: float = self.fusion["threshold"]
        self.graphs_dir = graphs_dir
        self.members: dict[str, list] = {}
        for model in self.models:
            folder = models_dir / model
            if not folder.exists():
                raise StreamGuardError(f"{folder}: missing; run `dvc repro` (or `dvc pull`) to get the trained models")
            # a seed ensemble keeps one member per run_<r> folder; average them as training did
            runs = sorted(p for p in folder.glob("run_[0-9]*") if p.is_dir()) or [folder]
            self.members[model] = [load_member(model, params, m, graphs_dir) for m in runs]
        self._vocab: Vocab | None = None

    def score(self, records: list[Record]) -> list[dict]:
        """One row per record: each model's probability, the fused one and `predicted` at the fusion threshold.

        Trims each record's `func` in place, exactly as `preprocess` trims training data.
        """
        if not self.uses_torch:
            return self._score(records)
        import torch

        with torch.inference_mode():  # no autograd bookkeeping at all (no_grad still tracks versions)
            return self._score(records)

    def _score(self, records: list[Record]) -> list[dict]:
        for rec in records:
            rec.func = trim_to_budget(rec.func, self.params.data.max_chars).text
        probs: dict[str, np.ndarray] = {}
        for model in self.models:
            items = self._graphs(records) if model in GRAPH_MODELS else records
            probs[model] = np.mean([m.predict(items) for m in self.members[model]], axis=0)
        for model in self.models:
            self._require_numbers(probs[model], records, self.models_dir / model)
        matrix = np.column_stack([probs[m] for m in self.models])
        features = None
        if self.fusion.get("features"):
            from streamguard.models.fusion import function_features

            features = np.array([function_features(r.func, self.fusion["features"]) for r in records])
        fused = self.stacker.predict_proba(matrix, features)
        self._require_numbers(fused, records, self.models_dir / "fusion")
        return [
            {
                "id": rec.id,
                "origin": rec.origin,
                "probabilities": {m: round(float(probs[m][i]), 6) for m in self.models},
                "fused_probability": round(float(fused[i]), 6),
                "predicted": int(fused[i] >= self.threshold),
                "threshold": self.threshold,
            }
            for i, rec in enumerate(records)
        ]

    @staticmethod
    def _require_numbers(probs: np.ndarray, records: list[Record], folder: Path) -> None:
        """A NaN compares below every threshold: scored as "not vulnerable" by a broken model. Stop instead."""
        bad = np.flatnonzero(~np.isfinite(probs))
        if bad.size:
            raise StreamGuardError(
                f"{folder}: scored {bad.size} of {len(records)} functions as not a number (first: "
                f"{records[bad[0]].origin or records[bad[0]].id}); its files may be damaged or tampered with. "
                "Restore the models (dvc pull, or dvc repro) and score again"
            )

    def _graphs(self, records: list[Record]) -> list:
        from streamguard.graphs.build import graph_for_function, load_vocab

        if self._vocab is None:
            self._vocab = load_vocab(self.graphs_dir)
        graphs = [graph_for_function(r.func, self._vocab, self.params.graph) for r in records]
        for rec, g in zip(records, graphs):
            g.rid = rec.id
        return graphs

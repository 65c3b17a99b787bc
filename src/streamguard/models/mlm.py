"""The masked-language model the `pretrain` stage trains, and where fine-tuning finds it.

A RoBERTa (transformers' RobertaForMaskedLM) over a byte-level BPE tokenizer
trained on the corpus (models/transformer.train_tokenizer, the same one a
from-scratch classifier uses). Functions longer than the window are cut into
consecutive windows, each framed by <s> ... </s> as encode_function frames a
function for classification. Token ids live in one flat int32 array, so a
kernel-sized corpus costs 4 bytes a token, not a Python list per window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamguard.errors import StreamGuardError

if TYPE_CHECKING:
    from streamguard.models.transformer import TransformerConfig

STATUS_FILE = "pretrain.json"


def pretrained_folder(root: Path | None, wanted_by: str = "transformer.init") -> Path:
    """The save_pretrained folder under `root` (the pretrain stage's output), or an error saying how to make it.

    `wanted_by` is the params key that asked for it (transformer.init or gnn.token_init).
    """
    if root is None:
        raise StreamGuardError(
            f"{wanted_by} is 'pretrain' but no pretrain stage output was given; pass it with "
            "--pretrained (e.g. `streamguard train transformer --pretrained models/pretrain`)"
        )
    folder = root / "hf"
    if not (folder / "config.json").is_file():
        raise StreamGuardError(
            f"{wanted_by} is 'pretrain' but {folder} holds no model; run `streamguard pretrain` "
            f"(or `dvc repro pretrain`) with the same params first ({root / STATUS_FILE} says what it did)"
        )
    return folder


@dataclass
class TokenWindows:
    """Token windows of at most `budget` ids each, stored flat: window i is ids[starts[i]:starts[i+1]]."""

    ids: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.starts) - 1

    def window(self, i: int) -> np.ndarray:
        return self.ids[self.starts[i] : self.starts[i + 1]]

    @property
    def tokens(self) -> int:
        return int(self.starts[-1])


def encode_windows(tokenizer, texts: Iterable[str], budget: int, max_tokens: int = 0, batch: int = 512) -> TokenWindows:
    """Cut each text's tokens into windows of `budget`; stop once `max_tokens` are taken (0 = all)."""
    chunks: list[np.ndarray] = []
    starts = [0]
    for group in _batched(texts, batch):
        for ids in tokenizer(group, add_special_tokens=False)["input_ids"]:
            for lo in range(0, len(ids), budget):
                piece = np.asarray(ids[lo : lo + budget], dtype=np.int32)
                if len(piece) < 2:
                    continue  # a lone trailing token teaches nothing
                chunks.append(piece)
                starts.append(starts[-1] + len(piece))
                if max_tokens and starts[-1] >= max_tokens:
                    return TokenWindows(np.concatenate(chunks), np.asarray(starts, dtype=np.int64))
    ids_flat = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    return TokenWindows(ids_flat, np.asarray(starts, dtype=np.int64))


def _batched(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    group: list[str] = []
    for text in texts:
        group.append(text)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def build_mlm(config: TransformerConfig, tokenizer):
    from transformers import RobertaForMaskedLM

    from streamguard.models.transformer import roberta_config

    return RobertaForMaskedLM(roberta_config(config, tokenizer))


class MaskedBatches:
    """Windows -> padded, masked batches (DataCollatorForLanguageModeling), with the task's loss and validation.

    Training batches are masked with torch's global generator, which the loop
    seeds and checkpoints, so a resumed run masks exactly as an uninterrupted
    one. Valid batches are masked once, from a fixed seed, so every epoch's
    valid loss is measured on the same masked tokens.
    """

    def __init__(self, tokenizer, windows: TokenWindows, mlm_probability: float) -> None:
        from transformers import DataCollatorForLanguageModeling

        self.tokenizer = tokenizer
        self.windows = windows
        self.collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)

    def collate(self, items: list[int]) -> dict:
        import torch

        from streamguard.models.transformer import collate_token_ids

        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        framed = [[cls, *self.windows.window(i).tolist(), sep] for i in items]
        batch = collate_token_ids(framed, pad_id=self.tokenizer.pad_token_id)
        special = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
        special |= batch["attention_mask"] == 0
        special[:, 0] = True
        lengths = batch["attention_mask"].sum(dim=1)
        special[torch.arange(len(framed)), lengths - 1] = True
        batch["input_ids"], batch["labels"] = self.collator.torch_mask_tokens(batch["input_ids"], special)
        return batch

    def fixed_batches(self, batch_size: int, seed: int) -> list[dict]:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return [
                self.collate(list(range(lo, min(lo + batch_size, len(self.windows)))))
                for lo in range(0, len(self.windows), batch_size)
            ]


def mlm_loss(model, batch: dict, device):
    """Mean cross-entropy over the masked tokens: RobertaForMaskedLM's loss, with its vocabulary
    head applied to the masked positions only (about 15 %), not to every token: on CPU the head
    over all positions costs as much as the encoder."""
    import torch

    hidden = model.roberta(
        input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
    ).last_hidden_state
    labels = batch["labels"].to(device)
    masked = labels != -100
    if not bool(masked.any()):  # nothing masked in this batch (tiny windows): no signal, but a valid graph
        return hidden.sum() * 0.0
    logits = model.lm_head(hidden[masked])
    return torch.nn.functional.cross_entropy(logits.float(), labels[masked])


def mlm_summary(model, batches: list[dict], device, dtype=None) -> dict[str, float]:
    """Valid MLM loss (mean over masked tokens), perplexity, and -loss (what early stopping maximises)."""
    import math
    from contextlib import nullcontext

    import torch

    total, count = 0.0, 0
    for batch in batches:
        n = int((batch["labels"] != -100).sum())
        if n == 0:
            continue
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        with ctx:
            loss = mlm_loss(model, batch, device)
        total += float(loss.float()) * n
        count += n
    loss_value = total / count if count else float("nan")
    return {"loss": loss_value, "perplexity": math.exp(min(loss_value, 50.0)), "neg_loss": -loss_value}

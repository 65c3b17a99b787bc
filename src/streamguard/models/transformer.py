"""The RoBERTa-style sequence classifier and its tokenizer.

With `transformer.model_name_or_path`, both come from `from_pretrained` (a
local folder or a hub id). Without it, a byte-level BPE tokenizer is trained
on the training split and a small RoBERTa is built from a `TransformerConfig`.
Either way the tokenizer must be fast: its offset mapping is checked against
the source text, and long functions are trimmed to the token budget around
dangerous API calls (`streamguard.data.trim`). With `transformer.max_windows`
above 1, a function is instead read as consecutive overlapping windows whose
<s> states are pooled before the classification head, so a change anywhere in
it (a fix, say) reaches the score.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streamguard.data.trim import trim_lines
from streamguard.errors import StreamGuardError
from streamguard.models.config import ModelConfig

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


class OffsetMismatch(StreamGuardError):
    """The tokenizer's offsets do not cover the source text they claim to."""


def train_tokenizer(texts: Iterable[str], vocab_size: int, max_length: int):
    """A byte-level BPE tokenizer trained on `texts`, wrapped as a fast HF tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
        # trimming to max_length happens in encode_function, around dangerous calls
        model_max_length=1_000_000_000,
    )


@dataclass(frozen=True)
class TransformerConfig(ModelConfig):
    """The sizes of a RoBERTa built from scratch: the classifier's, and the pretrain stage's MLM."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    dropout: float
    max_length: int  # tokens per window, <s> and </s> included


def roberta_config(config: TransformerConfig, tokenizer, **extra):
    """A RobertaConfig from the model's sizes and the tokenizer (its vocabulary and special tokens)."""
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_length + 2,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        **extra,
    )


def build_model(config: TransformerConfig, tokenizer):
    from transformers import RobertaForSequenceClassification

    return RobertaForSequenceClassification(roberta_config(config, tokenizer, num_labels=2))


def load_pretrained(name_or_path: str, use_safetensors: bool | None = None):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if not tokenizer.is_fast:
        raise StreamGuardError(
            f"transformer.model_name_or_path: {name_or_path} has no fast tokenizer; offsets cannot be "
            "validated. Use a model that ships tokenizer.json."
        )
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path, num_labels=2, use_safetensors=use_safetensors
    )
    return tokenizer, model


def validate_offsets(text: str, offsets: list[tuple[int, int]], where: str) -> None:
    """Every non-space character up to the last token must lie inside some token's span."""
    prev_start, covered_to = 0, 0
    for start, end in offsets:
        if start == end == 0:
            continue  # special tokens
        if not (0 <= start <= end <= len(text)) or start < prev_start:
            raise OffsetMismatch(
                f"{where}: token offset ({start}, {end}) out of order or outside the text "
                f"(length {len(text)}); the tokenizer does not align with the source"
            )
        gap = text[covered_to:start]
        if start > covered_to and gap.strip():
            raise OffsetMismatch(
                f"{where}: characters {covered_to}..{start} ({gap[:20]!r}) are covered by no "
                "token; the tokenizer's offsets are skewed"
            )
        prev_start, covered_to = start, max(covered_to, end)


@dataclass
class EncodedFunction:
    input_ids: list[int]
    how: str  # none | window | head (see streamguard.data.trim)


@dataclass
class EncodedWindows:
    windows: list[list[int]]  # each framed by <s> ... </s>, at most max_length ids
    how: str  # none | split (whole function, several windows) | window | head (trimmed first)


def _tokens_within(tokenizer, texts: Sequence[str], budget: int, wheres: Sequence[str]) -> list[tuple[list[int], str]]:
    """Token ids (no specials) of each text within `budget`, trimming around dangerous calls when too long.

    One batched tokenizer call for all texts and one for those trimmed: per-text calls cost
    more than the tokenizing itself.
    """
    if not texts:
        return []
    encodings = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encodings["input_ids"])
    hows = ["none"] * len(texts)
    trimmed: dict[int, str] = {}
    for i, (text, where) in enumerate(zip(texts, wheres)):
        offsets = encodings["offset_mapping"][i]
        validate_offsets(text, offsets, where)
        if len(ids[i]) <= budget:
            continue
        lines = text.splitlines(keepends=True)
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line))
        per_line = Counter(bisect.bisect_right(starts, s) - 1 for s, e in offsets)
        result = trim_lines(lines, [per_line.get(k, 0) for k in range(len(lines))], budget)
        hows[i], trimmed[i] = result.how, result.text
    if trimmed:
        again = tokenizer(list(trimmed.values()), add_special_tokens=False, return_offsets_mapping=True)
        for j, (i, text) in enumerate(trimmed.items()):
            validate_offsets(text, again["offset_mapping"][j], wheres[i])
            ids[i] = again["input_ids"][j]
    return [(tokens[:budget], how) for tokens, how in zip(ids, hows)]


def _framed(tokenizer, ids: list[int]) -> list[int]:
    # specials are added here, not by the tokenizer's post-processor, so a
    # trained and a pretrained tokenizer frame a function the same way
    return [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]


def encode_function(tokenizer, text: str, max_length: int, where: str) -> EncodedFunction:
    """Token ids within `max_length`, trimming around dangerous calls when too long."""
    ids, how = _tokens_within(tokenizer, [text], max_length - 2, [where])[0]
    return EncodedFunction(_framed(tokenizer, ids), how)


def window_starts(n_tokens: int, budget: int, max_windows: int) -> list[int]:
    """Starts of consecutive windows of `budget` tokens covering `n_tokens`, overlapping by a quarter."""
    # the overlap keeps a statement cut at one window's edge whole in the next
    stride = max(1, budget - budget // 4)
    starts = [0]
    while starts[-1] + budget < n_tokens and len(starts) < max_windows:
        starts.append(starts[-1] + stride)
    return starts


def window_capacity(budget: int, max_windows: int) -> int:
    """How many tokens `max_windows` overlapping windows of `budget` tokens cover."""
    return budget + (max_windows - 1) * max(1, budget - budget // 4)


def encode_windows(tokenizer, text: str, max_length: int, max_windows: int, where: str) -> EncodedWindows:
    """One function as `encode_many_windows` encodes a list of them."""
    return encode_many_windows(tokenizer, [text], max_length, max_windows, [where])[0]


def encode_many_windows(
    tokenizer, texts: Sequence[str], max_length: int, max_windows: int, wheres: Sequence[str]
) -> list[EncodedWindows]:
    """Functions as up to `max_windows` windows of `max_length` ids each.

    One window is exactly `encode_function` (trimmed around dangerous calls).
    Several windows cover the whole function, so a change anywhere in it
    reaches the model; a function longer than all windows together is first
    trimmed to their capacity by the same dangerous-call rule.
    """
    budget = max_length - 2
    if max_windows == 1:
        return [
            EncodedWindows([_framed(tokenizer, ids)], how)
            for ids, how in _tokens_within(tokenizer, texts, budget, wheres)
        ]
    encoded = []
    for ids, how in _tokens_within(tokenizer, texts, window_capacity(budget, max_windows), wheres):
        starts = window_starts(len(ids), budget, max_windows)
        if how == "none" and len(starts) > 1:
            how = "split"
        encoded.append(EncodedWindows([_framed(tokenizer, ids[s : s + budget]) for s in starts], how))
    return encoded


def batch_footprint(features: list[int] | list[list[int]]) -> tuple[int, int]:
    """(rows, tokens of the widest row) one function's features add to a batch: one row of
    token ids, or one row per window."""
    if features and isinstance(features[0], list):
        return len(features), max(len(w) for w in features)
    return 1, len(features)


def collate_token_ids(batch: list[list[int]], pad_id: int):
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ids in enumerate(batch):
        input_ids[i, : len(ids)] = torch.as_tensor(ids)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def collate_windows(batch: list[list[list[int]]], pad_id: int):
    """Functions of one or more windows: all windows side by side, with each window's (function, slot)."""
    import torch

    flat = [w for windows in batch for w in windows]
    out = collate_token_ids(flat, pad_id)
    out["owner"] = torch.as_tensor([i for i, windows in enumerate(batch) for _ in windows], dtype=torch.long)
    out["slot"] = torch.as_tensor([j for windows in batch for j in range(len(windows))], dtype=torch.long)
    out["n_functions"] = len(batch)
    return out


def forward_tokens(model, batch, device):
    return model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits


POOLINGS = ("max", "mean")


def check_windowed(model) -> None:
    """Several windows pool RoBERTa's <s> states before its classification head; other heads cannot."""
    if getattr(model.config, "model_type", None) != "roberta" or not hasattr(model, "classifier"):
        raise StreamGuardError(
            f"transformer.max_windows > 1 needs a RoBERTa sequence classifier, got model_type "
            f"'{getattr(model.config, 'model_type', None)}'; use max_windows: 1 with this model"
        )


def forward_windows(model, batch, device, pooling: str):
    """Logits per function: each window's <s> state, pooled over the function's windows, through the head."""
    import torch

    hidden = model.base_model(
        input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
    ).last_hidden_state[:, 0, :]
    owner, slot = batch["owner"].to(device), batch["slot"].to(device)
    n, width = batch["n_functions"], int(batch["slot"].max()) + 1
    per_function = hidden.new_zeros((n, width, hidden.shape[-1]))
    per_function[owner, slot] = hidden
    present = torch.zeros((n, width, 1), dtype=torch.bool, device=device)
    present[owner, slot] = True
    if pooling == "max":
        pooled = per_function.masked_fill(~present, torch.finfo(hidden.dtype).min).amax(dim=1)
    else:
        pooled = per_function.sum(dim=1) / present.sum(dim=1).clamp_min(1)
    # RobertaClassificationHead reads position 0 of a [batch, length, hidden] tensor
    return model.classifier(pooled[:, None, :])


def save(model, tokenizer, out_dir: Path) -> None:
    from transformers.utils import logging as hf_logging

    # transformers draws its own tqdm bar per shard; rich already shows progress, and stage logs stay clean
    hf_logging.disable_progress_bar()
    model.save_pretrained(out_dir / "hf")
    tokenizer.save_pretrained(out_dir / "hf")


def load(out_dir: Path):
    from transformers.utils import logging as hf_logging

    # transformers draws a tqdm bar ("Loading weights") while it loads; predict and scan show their own
    hf_logging.disable_progress_bar()
    # our own trained weights (save_pretrained writes safetensors): never fall back to a pickled .bin
    return load_pretrained(str(out_dir / "hf"), use_safetensors=True)

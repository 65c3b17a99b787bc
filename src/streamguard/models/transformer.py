"""The RoBERTa-style sequence classifier and its tokenizer.

With `transformer.model_name_or_path`, both come from `from_pretrained` (a
local folder or a hub id). Without it, a byte-level BPE tokenizer is trained
on the training split and a small RoBERTa is built from the sizes in params.
Either way the tokenizer must be fast: its offset mapping is checked against
the source text, and long functions are trimmed to the token budget around
dangerous API calls (`streamguard.data.trim`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from streamguard.data.trim import trim_lines
from streamguard.errors import StreamGuardError
from streamguard.params import PretrainParams, TransformerParams

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


def roberta_config(params: TransformerParams | PretrainParams, tokenizer, **extra):
    """A RobertaConfig from params' sizes (the classifier's or the pretrain stage's) and the tokenizer."""
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        num_hidden_layers=params.num_layers,
        num_attention_heads=params.num_heads,
        intermediate_size=params.intermediate_size,
        hidden_dropout_prob=params.dropout,
        attention_probs_dropout_prob=params.dropout,
        max_position_embeddings=params.max_length + 2,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        **extra,
    )


def build_model(params: TransformerParams, tokenizer):
    from transformers import RobertaForSequenceClassification

    return RobertaForSequenceClassification(roberta_config(params, tokenizer, num_labels=2))


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


def encode_function(tokenizer, text: str, max_length: int, where: str) -> EncodedFunction:
    """Token ids within `max_length`, trimming around dangerous calls when too long."""
    # specials are added here, not by the tokenizer's post-processor, so a
    # trained and a pretrained tokenizer frame a function the same way
    budget = max_length - 2
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    validate_offsets(text, enc["offset_mapping"], where)
    how = "none"
    if len(enc["input_ids"]) > budget:
        lines = text.splitlines(keepends=True)
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line))
        per_line = Counter(bisect.bisect_right(starts, s) - 1 for s, e in enc["offset_mapping"])
        result = trim_lines(lines, [per_line.get(i, 0) for i in range(len(lines))], budget)
        how = result.how
        enc = tokenizer(result.text, add_special_tokens=False, return_offsets_mapping=True)
        validate_offsets(result.text, enc["offset_mapping"], where)
    ids = enc["input_ids"][:budget]
    return EncodedFunction([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id], how)


def collate_token_ids(batch: list[list[int]], pad_id: int):
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ids in enumerate(batch):
        input_ids[i, : len(ids)] = torch.as_tensor(ids)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def forward_tokens(model, batch, device):
    return model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits


def save(model, tokenizer, out_dir: Path) -> None:
    from transformers.utils import logging as hf_logging

    # transformers draws its own tqdm bar per shard; rich already shows progress, and stage logs stay clean
    hf_logging.disable_progress_bar()
    model.save_pretrained(out_dir / "hf")
    tokenizer.save_pretrained(out_dir / "hf")


def load(out_dir: Path):
    # our own trained weights (save_pretrained writes safetensors): never fall back to a pickled .bin
    return load_pretrained(str(out_dir / "hf"), use_safetensors=True)

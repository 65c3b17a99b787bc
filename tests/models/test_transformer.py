"""Transformer branch: the from_pretrained path (no network), offsets, token trimming."""

from __future__ import annotations

import pytest

from streamguard.data.records import Record, write_records
from streamguard.io.predictions import read_predictions
from streamguard.models import transformer as tf
from streamguard.params import params_from_dict
from streamguard.stages.train import run_train


def _processed(tmp_path, sample_records, n=(64, 24, 24)):
    out = tmp_path / "processed"
    start = 0
    for split, size in zip(("train", "valid", "test"), n):
        write_records(
            out / f"{split}.jsonl",
            [Record(**{**r.to_dict(), "split": split}) for r in sample_records[start : start + size]],
        )
        start += size
    return out


def test_train_from_a_saved_pretrained_folder(tmp_path, sample_records):
    # a tiny "pretrained" model and tokenizer, saved the way the hub ships them
    tokenizer = tf.train_tokenizer([r.func for r in sample_records[:200]], 300, 64)
    base = params_from_dict(
        {"transformer": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_length": 64}}
    )
    model = tf.build_model(tf.TransformerConfig.of(base.transformer), tokenizer)
    pretrained = tmp_path / "tiny-roberta"
    model.save_pretrained(pretrained)
    tokenizer.save_pretrained(pretrained)

    params = params_from_dict(
        {"transformer": {"model_name_or_path": str(pretrained), "epochs": 1, "batch_size": 16, "max_length": 64}}
    )
    processed = _processed(tmp_path, sample_records)
    model_dir = tmp_path / "models" / "transformer"
    (info,) = run_train("transformer", params, processed, tmp_path / "g", model_dir, checkpoints=tmp_path / "ck")
    assert info["pretrained"] == str(pretrained) and info["max_length"] == 64
    # the evaluation reader validates every row (prob in [0, 1], one row per id)
    preds = read_predictions(tmp_path / "models/transformer/predictions.jsonl", "transformer")
    assert len(preds.splits["valid"]) == len(preds.splits["test"]) == 24
    # the saved model loads back through the same from_pretrained code
    tok2, model2 = tf.load(tmp_path / "models" / "transformer")
    assert tok2.is_fast and model2.config.hidden_size == 32


def test_misaligned_offsets_are_an_error():
    text = "int f(int a) { return a; }"
    tf.validate_offsets(text, [(0, 3), (4, 5), (5, 6)], "ok")
    with pytest.raises(tf.OffsetMismatch, match="covered by no token"):
        tf.validate_offsets(text, [(0, 3), (9, 12)], "rec1")
    with pytest.raises(tf.OffsetMismatch, match="outside the text"):
        tf.validate_offsets(text, [(0, 3), (20, 99)], "rec2")


def test_long_function_keeps_the_dangerous_window(sample_records):
    tokenizer = tf.train_tokenizer([r.func for r in sample_records[:200]], 500, 64)
    filler = "".join(f"    counter_{i} = counter_{i} + {i};\n" for i in range(60))
    func = "static int copy(char *dst, char *src, int n)\n{\n" + filler + "    memcpy(dst, src, n);\n" + filler + "}\n"
    enc = tf.encode_function(tokenizer, func, 64, "long")
    assert enc.how == "window" and len(enc.input_ids) <= 64
    decoded = tokenizer.decode(enc.input_ids)
    assert "memcpy" in decoded and "copy(char" in decoded

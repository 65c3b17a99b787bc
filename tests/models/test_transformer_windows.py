"""The transformer's context that reaches a fix (several pooled windows) and pair-aware training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from streamguard.data.records import Record, write_records
from streamguard.data.trim import trim_to_budget
from streamguard.io.predictions import read_predictions
from streamguard.models import transformer as tf
from streamguard.models.branches import load_branch
from streamguard.models.inference import predict_probs
from streamguard.params import ParamsError, TransformerParams, params_from_dict
from streamguard.stages.train import run_train
from streamguard.training import pair_loss as pl
from streamguard.training.branches import TransformerBranch
from streamguard.training.loop import TrainingTask, seed_everything, train

TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_length": 32}
FILLER = "".join(f"    counter_{i} = counter_{i} + {i};\n" for i in range(10))


def _function(last_line: str) -> str:
    # no dangerous call: one window keeps the head, so the last line is out of its reach
    return "static int step(int n)\n{\n" + FILLER + last_line + "    return n;\n}\n"


@pytest.fixture(scope="module")
def tokenizer(sample_records):
    return tf.train_tokenizer([r.func for r in sample_records[:200]] + [_function("")], 400, 32)


def _branch(tokenizer, max_windows: int, pooling: str = "max") -> TransformerBranch:
    params = params_from_dict({"transformer": {**TINY, "max_windows": max_windows, "window_pooling": pooling}})
    seed_everything(0)
    branch = TransformerBranch(params, Path(), Path())
    branch.tokenizer, branch.model = tokenizer, tf.build_model(tf.TransformerConfig.of(params.transformer), tokenizer)
    branch.max_length, branch.max_windows, branch.window_pooling = 32, max_windows, pooling
    return branch


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_a_change_beyond_the_first_window_reaches_the_score(tokenizer, pooling):
    a = Record(func=_function("    n = n + 1;\n"), target=1)
    b = Record(func=_function("    n = n - 1;\n"), target=0)
    one = _branch(tokenizer, 1).predict([a, b])
    assert one[0] == one[1]  # one window: both versions look the same
    assert len(tf.encode_windows(tokenizer, a.func, 32, 16, "a").windows) > 1
    many = _branch(tokenizer, 16, pooling).predict([a, b])
    assert many[0] != many[1]


def test_one_window_functions_pool_to_the_plain_model(tokenizer, sample_records):
    """Pooling a single window is the identity: the windowed path scores short functions as the plain one."""
    branch = _branch(tokenizer, 4)
    encoded = [tf.encode_windows(tokenizer, f"int f(int a) {{ return a + {i}; }}", 32, 4, "f") for i in range(3)]
    assert all(len(e.windows) == 1 for e in encoded)
    branch.model.eval()
    with torch.no_grad():
        pooled = tf.forward_windows(branch.model, tf.collate_windows([e.windows for e in encoded], 1), "cpu", "max")
        plain = tf.forward_tokens(branch.model, tf.collate_token_ids([e.windows[0] for e in encoded], 1), "cpu")
    torch.testing.assert_close(pooled, plain)


def test_max_windows_one_is_the_trimmed_single_window(tokenizer):
    func = "static int copy(char *d, char *s, int n)\n{\n" + FILLER + "    memcpy(d, s, n);\n" + FILLER + "}\n"
    single = tf.encode_windows(tokenizer, func, 64, 1, "f")
    assert single.windows == [tf.encode_function(tokenizer, func, 64, "f").input_ids] and single.how == "window"
    several = tf.encode_windows(tokenizer, func, 64, 3, "f")
    assert len(several.windows) == 3 and all(len(w) <= 64 for w in several.windows) and several.how == "window"
    assert "memcpy" in "".join(tokenizer.decode(w) for w in several.windows)  # trimmed to capacity around it


def test_trimming_fills_the_budget():
    """The kept window grows to the budget: a function with no dangerous call keeps its whole head."""
    body = "".join(f"    x{i} = {i};\n" for i in range(200))
    head = trim_to_budget("int g(void)\n{\n" + body + "}\n", 300)
    assert head.how == "head" and 300 - len("    x100 = 100;\n") < len(head.text) <= 300
    danger = trim_to_budget("int f(int n)\n{\n" + body + "    memcpy(d, s, n);\n" + body + "}\n", 400)
    assert danger.how == "window" and "memcpy" in danger.text
    assert 400 - len("    x100 = 100;\n") < len(danger.text) <= 400


def test_windows_cover_the_function_with_overlap():
    assert tf.window_starts(10, 30, 4) == [0]
    starts = tf.window_starts(100, 30, 8)
    assert starts[0] == 0 and starts[-1] + 30 >= 100
    assert all(b - a == 23 for a, b in zip(starts, starts[1:]))  # a quarter of each window overlaps
    assert tf.window_capacity(30, 4) == 30 + 3 * 23


def test_window_params_are_validated():
    assert TransformerParams(max_windows=4, pair_loss_weight=0.5).max_windows == 4
    with pytest.raises(ParamsError, match="transformer.max_windows"):
        TransformerParams(max_windows=0)
    with pytest.raises(ParamsError, match="transformer.pair_margin"):
        TransformerParams(pair_margin=1.5)
    with pytest.raises(ParamsError, match="weighting: loss"):
        TransformerParams(pair_loss_weight=1.0, weighting="sampler")


def test_pair_groups_keep_complete_pairs_together():
    groups = pl.pair_groups([None, "a", "b", "a", "c", "c"], [1, 0, 1, 1, 1, 1])
    # a: fixed at 1, vulnerable at 3 -> one group, vulnerable first, where the vulnerable one was;
    # b and c are not complete pairs
    assert groups == [[0], [2], [3, 1], [4], [5]]


def test_pair_aware_loss_by_hand():
    ln3 = math.log(3.0)
    # P(vulnerable) = 0.25, 0.75, 0.5
    logits = torch.tensor([[ln3, 0.0], [0.0, ln3], [0.0, 0.0]])
    group = [pl.Member(None, 1, 2.0), pl.Member(None, 0, 1.0)]
    batch = pl.collate_groups([group, [pl.Member(None, 1, 1.0)]], collate=lambda features: None)
    assert batch.vulnerable.tolist() == [0] and batch.fixed.tolist() == [1]
    ce = (2 * -math.log(0.25) + 1 * -math.log(0.25) + 1 * -math.log(0.5)) / 4
    ranking = 0.1 - (0.25 - 0.75)  # the vulnerable version scores below its fix: penalised
    loss = pl.pair_aware_loss(logits, batch, use_weights=True, pair_weight=2.0, margin=0.1)
    assert float(loss) == pytest.approx(ce + 2.0 * ranking, abs=1e-5)
    unweighted = pl.pair_aware_loss(logits, batch, use_weights=False, pair_weight=0.0, margin=0.1)
    assert float(unweighted) == pytest.approx((2 * -math.log(0.25) - math.log(0.5)) / 3, abs=1e-5)
    # ranked right by more than the margin: no pair term
    flipped = logits[[1, 0, 2]]
    ce_flipped = (2 * -math.log(0.75) + 1 * -math.log(0.75) + 1 * -math.log(0.5)) / 4
    assert float(pl.pair_aware_loss(flipped, batch, True, 2.0, 0.1)) == pytest.approx(ce_flipped, abs=1e-5)


@pytest.mark.slow
def test_a_tiny_model_learns_to_rank_a_planted_pair(tokenizer, tmp_path):
    """Only the pair term carries signal (both versions weigh 0 in the cross-entropy)."""
    cfg = TransformerParams(**TINY, epochs=40, batch_size=1, learning_rate=1e-2, warmup_ratio=0.0, patience=100)
    branch = _branch(tokenizer, 1)
    vulnerable = tf.encode_function(tokenizer, "int f(char *b) { b[n] = 0; return 1; }", 32, "v").input_ids
    fixed = tf.encode_function(tokenizer, "int f(char *b) { if (n < 8) b[n] = 0; return 1; }", 32, "f").input_ids
    collate = lambda batch: pl.collate_groups(batch, lambda ids: tf.collate_token_ids(ids, 1))  # noqa: E731
    forward = lambda model, batch, device: tf.forward_tokens(model, batch.inputs, device)  # noqa: E731
    task = TrainingTask(
        name="rank",
        model=branch.model,
        train_items=[[pl.Member(vulnerable, 1, 0.0), pl.Member(fixed, 0, 0.0)]],
        valid_items=[[pl.Member(vulnerable, 0)], [pl.Member(fixed, 0)]],
        train_labels=[1],
        train_confidence=[1.0],
        valid_labels=[1, 0],
        collate=collate,
        forward=forward,
        loss_fn=lambda model, batch, device: pl.pair_aware_loss(forward(model, batch, device), batch, True, 1.0, 0.2),
        score_key="gap",  # keep the best-ranked epoch (a classification score saturates at once)
    )

    def gap(*_):
        probs = predict_probs(branch.model, task.valid_items, collate, forward, torch.device("cpu"), 2)
        return {"gap": float(probs[0] - probs[1])}

    task.validate = gap
    assert abs(gap()["gap"]) < 0.1
    train(task, cfg, 0, tmp_path / "out", tmp_path / "ckpt")
    assert gap()["gap"] > 0.15


@pytest.mark.slow
def test_saved_windowed_pair_aware_model_predicts_as_trained(tmp_path, sample_records):
    """Loading reads the window settings from run_info, not from today's params; the planted pairs are ranked."""
    train_recs = [Record(**{**r.to_dict(), "split": "train"}) for r in sample_records[:48]]
    for i, r in enumerate(sample_records[:6]):
        fixed = r.func.replace("{", "{\n    if (!ok) return -1;", 1)
        train_recs += [
            Record(func=r.func, target=1, project="p", split="train", pair=f"pair{i}"),
            Record(func=fixed, target=0, project="p", split="train", pair=f"pair{i}"),
        ]
    processed = tmp_path / "processed"
    write_records(processed / "train.jsonl", train_recs)
    for split, recs in (("valid", sample_records[48:68]), ("test", sample_records[68:88])):
        write_records(processed / f"{split}.jsonl", [Record(**{**r.to_dict(), "split": split}) for r in recs])
    params = params_from_dict(
        {
            "transformer": {
                **TINY,
                "vocab_size": 300,
                "epochs": 1,
                "batch_size": 8,
                "max_windows": 3,
                "pair_loss_weight": 1,
            }
        }
    )
    (info,) = run_train(
        "transformer", params, processed, tmp_path / "g", tmp_path / "model", checkpoints=tmp_path / "ck"
    )
    assert info["max_windows"] == 3 and info["train_pairs_ranked"] == 6
    assert set(info["windows_per_function_train"]) - {"1"}  # some functions span several windows
    loaded = load_branch("transformer", params_from_dict({}), tmp_path / "model", tmp_path / "g")
    assert (loaded.max_windows, loaded.window_pooling) == (3, "max")
    test = [Record(**{**r.to_dict(), "split": "test"}) for r in sample_records[68:88]]
    saved = read_predictions(tmp_path / "model/predictions.jsonl", "transformer").splits["test"]
    by_id = dict(zip([r.id for r in test], loaded.predict(test)))
    np.testing.assert_allclose([by_id[i] for i in saved.ids], saved.prob, atol=1e-5)

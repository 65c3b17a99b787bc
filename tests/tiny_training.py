"""A tiny real transformer training task on bundled sample records (test helper).

Run as a script to train in a subprocess (the SIGTERM test):
    python tiny_training.py OUT_DIR CKPT_DIR STEP_DELAY_S
"""

from __future__ import annotations

import json
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import SAMPLE  # noqa: E402

from streamguard.data.records import read_records  # noqa: E402
from streamguard.models import transformer as tf  # noqa: E402
from streamguard.params import TransformerParams  # noqa: E402
from streamguard.training.loop import TrainingTask, seed_everything, train  # noqa: E402

CFG = TransformerParams(
    max_length=64,
    vocab_size=400,
    hidden_size=32,
    num_layers=1,
    num_heads=2,
    intermediate_size=64,
    epochs=2,
    batch_size=8,
    learning_rate=1e-3,
    checkpoint_every=5,
    patience=5,
    warmup_ratio=0.1,
)


def make_task(
    step_delay: float = 0.0, cfg: TransformerParams = CFG, n_train: int = 96, n_valid: int = 32, bucketed: bool = False
):
    records = list(read_records(SAMPLE))
    train_recs, valid_recs = records[:n_train], records[n_train : n_train + n_valid]
    seed_everything(0)
    tokenizer = tf.train_tokenizer([r.func for r in train_recs], cfg.vocab_size, cfg.max_length)
    model = tf.build_model(tf.TransformerConfig.of(cfg), tokenizer)
    enc = lambda recs: [tf.encode_function(tokenizer, r.func, cfg.max_length, r.id).input_ids for r in recs]  # noqa: E731

    def slow_forward(model, batch, device):
        time.sleep(step_delay)  # lets a test signal the process mid-epoch
        return tf.forward_tokens(model, batch, device)

    train_items = enc(train_recs)
    return TrainingTask(
        name="tiny",
        model=model,
        train_items=train_items,
        valid_items=enc(valid_recs),
        train_labels=[r.target for r in train_recs],
        train_confidence=[r.confidence for r in train_recs],
        valid_labels=[r.target for r in valid_recs],
        collate=partial(tf.collate_token_ids, pad_id=tokenizer.pad_token_id),
        forward=slow_forward,
        data_fingerprint="tiny-sample",
        item_sizes=[tf.batch_footprint(ids) for ids in train_items] if bucketed else None,
    )


if __name__ == "__main__":
    out_dir, ckpt_dir, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    from streamguard.training.loop import TrainingInterrupted

    try:
        result = train(make_task(delay), CFG, seed=7, out_dir=out_dir, checkpoint_dir=ckpt_dir)
    except TrainingInterrupted as exc:
        print(exc, file=sys.stderr)
        # the step the run stopped at, for the test to compare with the checkpoint's
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "interrupted.json").write_text(json.dumps({"global_step": exc.global_step}))
        sys.exit(3)
    (out_dir / "result.json").write_text(
        json.dumps(
            {"history": result.history, "best_epoch": result.best_epoch, "resumed_from_step": result.resumed_from_step}
        )
    )

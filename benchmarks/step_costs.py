"""What one training step's parts cost on this CPU (a benchmark: prints figures, asserts nothing).

Two questions the sample pipeline's profile raised:
- the transformer: does the attention kernel matter? A RobertaModel of the sample's shape
  (2 layers, hidden 128, 4 heads, FFN 256) on a batch of 32 x 128 tokens, forward and backward,
  with SDPA and with eager attention;
- the GNN: what does dropout's mask cost next to the layer's matmul, on a batch's node states
  (20,000 nodes x 128)?

    python benchmarks/step_costs.py [--steps 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch


def per_call_ms(fn: Callable[[], object], calls: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1000


def transformer_step_ms(attention: str, steps: int) -> float:
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(
        vocab_size=8000,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=130,
        attn_implementation=attention,
    )
    model = RobertaModel(config)
    ids = torch.randint(5, 8000, (32, 128))
    mask = torch.ones(32, 128, dtype=torch.long)
    mask[:, 100:] = 0  # some padding, as in a real batch

    def step() -> None:
        model(input_ids=ids, attention_mask=mask).last_hidden_state.sum().backward()

    return per_call_ms(step, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for attention in ("sdpa", "eager", "sdpa", "eager"):  # twice each: the first pair warms caches
        print(f"transformer step, {attention} attention: {transformer_step_ms(attention, args.steps):.1f} ms")
    h = torch.randn(20000, 128)
    weight = torch.randn(128, 384)
    print(f"dropout(p=0.2), 20000 x 128: {per_call_ms(lambda: torch.nn.functional.dropout(h, 0.2, True), 30):.1f} ms")
    print(f"rand_like < 0.8 mask, 20000 x 128: {per_call_ms(lambda: torch.rand_like(h) < 0.8, 30):.1f} ms")
    print(f"matmul 20000 x 128 @ 128 x 384: {per_call_ms(lambda: h @ weight, 30):.1f} ms")


if __name__ == "__main__":
    main()

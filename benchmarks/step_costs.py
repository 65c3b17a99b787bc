"""What one training step's parts cost on this CPU (a benchmark: prints figures, asserts nothing).

Two questions the sample pipeline's profile raised:
- the transformer: does the attention kernel matter? The RobertaModel params.yaml's transformer
  section describes (the sample's: 2 layers, hidden 128, 4 heads, FFN 256) on a batch of
  32 x max_length tokens, forward and backward, with SDPA and with eager attention;
- the GNN: what does dropout's mask cost next to the layer's matmul, on a batch's node states
  (20,000 nodes x 128)?

    python benchmarks/step_costs.py [--steps 10] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from streamguard.params import TransformerParams, load_params


def per_call_ms(fn: Callable[[], object], calls: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1000


class _Vocabulary:
    """What `roberta_config` reads of a tokenizer: its size and special-token ids."""

    pad_token_id, bos_token_id, eos_token_id = 1, 0, 2

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def transformer_step_ms(section: TransformerParams, attention: str, steps: int) -> float:
    from transformers import RobertaModel

    from streamguard.models.transformer import TransformerConfig, roberta_config

    config = TransformerConfig.of(section)
    vocab_size = section.vocab_size
    model = RobertaModel(roberta_config(config, _Vocabulary(vocab_size), attn_implementation=attention))
    ids = torch.randint(5, vocab_size, (32, config.max_length))
    mask = torch.ones(32, config.max_length, dtype=torch.long)
    mask[:, config.max_length * 3 // 4 :] = 0  # some padding, as in a real batch

    def step() -> None:
        model(input_ids=ids, attention_mask=mask).last_hidden_state.sum().backward()

    return per_call_ms(step, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--params", default="params.yaml", help="the transformer section sizes the model")
    args = parser.parse_args()
    section = load_params(args.params).transformer
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for attention in ("sdpa", "eager", "sdpa", "eager"):  # twice each: the first pair warms caches
        print(f"transformer step, {attention} attention: {transformer_step_ms(section, attention, args.steps):.1f} ms")
    h = torch.randn(20000, 128)
    weight = torch.randn(128, 384)
    print(f"dropout(p=0.2), 20000 x 128: {per_call_ms(lambda: torch.nn.functional.dropout(h, 0.2, True), 30):.1f} ms")
    print(f"rand_like < 0.8 mask, 20000 x 128: {per_call_ms(lambda: torch.rand_like(h) < 0.8, 30):.1f} ms")
    print(f"matmul 20000 x 128 @ 128 x 384: {per_call_ms(lambda: h @ weight, 30):.1f} ms")


if __name__ == "__main__":
    main()

"""A small Transformer learns to follow a pointer, and its attention shows how.

Each sequence holds ``T`` tokens; the first one is a position ``k`` (1 to T-1) and the
answer is the token found at position ``k``. No fixed weighting of the positions can
answer that: the network has to look up a place chosen by the input itself, which is
what attention does. The model is an embedding plus a learned position vector per
place, ``nn.TransformerEncoder`` (two pre-norm ``nn.TransformerEncoderLayer``s) and a
linear read-out of position 0, trained with AdamW and cross-entropy.

After training the script checks the mechanism, not just the score: it asks each
layer's self-attention where position 0 looks, and counts how often its largest weight
lands on the pointed-to position.

    python examples/pointer_transformer.py            # 1500 steps
    python examples/pointer_transformer.py --quick    # 400 steps
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule import nn


def batch(rng: np.random.Generator, n: int, length: int, vocab: int) -> tuple:
    """``n`` sequences and their answers: token 0 points at a position, the answer is the
    token there."""
    x = rng.integers(0, vocab, (n, length))
    k = rng.integers(1, length, n)
    x[:, 0] = k
    return x, x[np.arange(n), k]


class PointerNet(nn.Module):
    """Shapes: tokens (N, T) int -> scores (N, vocab)."""

    def __init__(self, vocab: int, length: int, width: int, heads: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(
            np.random.default_rng(1).normal(0, 0.1, (length, width)).astype(np.float32)
        )
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width))
        self.read = nn.Linear(width, vocab)

    def inputs(self, x: np.ndarray) -> cr.Tensor:
        return self.embed(x) + self.position

    def forward(self, x: np.ndarray) -> cr.Tensor:
        return self.read(self.encoder(self.inputs(x))[:, 0])


def where_position_0_looks(model: PointerNet, x: np.ndarray) -> list[float]:
    """Per layer, the fraction of sequences in which position 0 puts its largest
    attention weight on the position its token points at."""
    shares = []
    with cr.no_grad():
        h = model.inputs(x)
        for layer in model.encoder.layers:
            q = layer.norm1(h)  # what a pre-norm layer's self-attention sees
            _, weights = layer.self_attn(q, q, q, need_weights=True)  # (N, T, T)
            shares.append(float((weights.numpy()[:, 0, :].argmax(axis=1) == x[:, 0]).mean()))
            h = layer(h)
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 steps")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--length", type=int, default=8, help="sequence length T")
    parser.add_argument("--vocab", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = args.steps or (400 if args.quick else 1500)
    if args.vocab < args.length:
        parser.error("--vocab must be at least --length (token 0 holds a position)")

    cr.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = PointerNet(args.vocab, args.length, width=32, heads=4, layers=2)
    opt = cr.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()
    print(f"task: {args.length} tokens of {args.vocab}; token 0 = k, answer = token k")
    print(f"model: {model.num_parameters():,} parameters")

    start, first = time.perf_counter(), None
    for _ in range(steps):
        x, y = batch(rng, 64, args.length, args.vocab)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    print(f"loss: {first:.3f} -> {loss.item():.3f} ({steps} steps, "
          f"{time.perf_counter() - start:.1f} s)")  # fmt: skip

    model.eval()
    x, y = batch(np.random.default_rng(args.seed + 1), 1000, args.length, args.vocab)
    with cr.no_grad():
        accuracy = float((model(x).numpy().argmax(axis=1) == y).mean())
    print(f"test accuracy: {accuracy:.1%} (chance {1 / args.vocab:.1%})")
    for i, share in enumerate(where_position_0_looks(model, x)):
        print(f"layer {i}: position 0 attends most to the pointed-to position in {share:.1%}")


if __name__ == "__main__":
    main()

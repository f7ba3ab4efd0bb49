"""The same MLP trained two ways: modular backprop by hand, and autodiff.

The classic module view of backpropagation: every layer knows its own backward. Run the
layers forward keeping each one's output, then walk them in reverse, handing each layer
dL/d(its output) and getting back dL/d(its input) -- while the layer adds dL/d(its
parameters) into their ``.grad``::

    h = x
    for m in layers:            # forward_pass
        h = m(h)
    g = dL/dh                   # from the loss
    for m in reversed(layers):  # backward_pass
        g = m.backward(g)       # returns dL/dx, accumulates param_gradients

Autodiff does the same walk in one call, ``loss.backward()``. This script trains two
copies of one network on the 8x8 digits, one each way, with the same batches and the
same SGD, and checks after every step that the gradients are identical -- bit for bit --
and so are the trained weights.

    python examples/modular_backprop.py           # 5 epochs
    python examples/modular_backprop.py --quick   # 3 epochs on 900 digits
"""

from __future__ import annotations

import argparse
import copy
import itertools
from collections.abc import Sequence

import numpy as np

import chainrule as cr
from chainrule import nn


def make_layers(sizes: Sequence[int]) -> list[nn.Module]:
    """Linear, ReLU, Linear, ReLU, ..., Linear."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


def softmax_cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dL/dlogits of the mean cross-entropy, by hand: (softmax - onehot) / N."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p / len(labels)


def modular_step(
    layers: list[nn.Module], loss_fn: nn.Module, xb: cr.Tensor, yb: cr.Tensor
) -> float:
    """One forward pass, then one backward pass layer by layer, in reverse."""
    h = xb
    for m in layers:  # forward_pass: each module records its call
        h = m(h)
    loss = loss_fn(h, yb)
    g, _ = loss_fn.backward()  # dL/dlogits (the labels get None)
    for m in reversed(layers):  # backward_pass: dL/dy in, dL/dx out
        g = m.backward(g)
    return loss.item()


def autodiff_step(model: nn.Sequential, loss_fn: nn.Module, xb: cr.Tensor, yb: cr.Tensor) -> float:
    """One forward pass and ``loss.backward()``."""
    loss = loss_fn(model(xb), yb)
    loss.backward()
    return loss.item()


def main(argv: Sequence[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (5)")
    parser.add_argument("--lr", type=float, default=0.3, help="SGD learning rate (0.3)")
    parser.add_argument("--hidden", default="64,32", help="hidden sizes (64,32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 epochs on 900 digits")
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 5)

    X, y = cr.datasets.digits()
    if args.quick:
        X, y = X[:900], y[:900]
    sizes = [64, *(int(s) for s in args.hidden.split(",")), 10]
    cr.manual_seed(args.seed)
    layers = make_layers(sizes)  # trained by hand, layer by layer
    model = nn.Sequential(*copy.deepcopy(layers))  # the same weights, trained by autodiff
    loss_fn = nn.CrossEntropyLoss()
    opt_a = cr.optim.SGD([p for m in layers for p in m.parameters()], lr=args.lr)
    opt_b = cr.optim.SGD(model.parameters(), lr=args.lr)
    print(f"MLP {'-'.join(map(str, sizes))} on {len(X)} digits, {epochs} epoch(s)")

    # the loss's backward is a module's backward too; check it against the formula
    xb, yb = cr.tensor(X[:32]), cr.tensor(y[:32])
    logits = nn.Sequential(*layers)(xb)
    loss_fn(logits, yb)
    by_module = loss_fn.backward()[0].numpy()
    by_hand = softmax_cross_entropy_grad(logits.numpy().astype(np.float64), y[:32])
    print(f"dL/dlogits from CrossEntropyLoss.backward() matches (softmax - onehot)/N: "
          f"{np.allclose(by_module, by_hand, atol=1e-6)}")  # fmt: skip

    identical = True
    max_diff = 0.0
    steps = 0
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=32, shuffle=True, seed=1)
    for epoch in range(1, epochs + 1):
        total = 0.0
        for xb, yb in loader:
            opt_a.zero_grad()
            opt_b.zero_grad()
            loss_a = modular_step(layers, loss_fn, xb, yb)
            loss_b = autodiff_step(model, loss_fn, xb, yb)
            for m_a, m_b in zip(layers, model):
                for p_a, p_b in zip(m_a.parameters(), m_b.parameters()):
                    ga, gb = p_a.grad.numpy(), p_b.grad.numpy()
                    identical &= bool(np.array_equal(ga, gb))
                    max_diff = max(max_diff, float(np.abs(ga - gb).max()))
            identical &= loss_a == loss_b
            opt_a.step()
            opt_b.step()
            total += loss_a
            steps += 1
        print(f"epoch {epoch}: mean loss {total / len(loader):.4f}")

    same_weights = all(
        np.array_equal(p_a.numpy(), p_b.numpy())
        for m_a, m_b in zip(layers, model)
        for p_a, p_b in zip(m_a.parameters(), m_b.parameters())
    )
    with cr.no_grad():
        acc = float((model(cr.tensor(X)).numpy().argmax(1) == y).mean())
    print(f"{steps} steps compared; largest gradient difference {max_diff:.3g}")
    print(f"gradients identical: {identical}")
    print(f"trained weights identical: {same_weights}")
    print(f"train accuracy: {acc:.4f}")
    return identical and same_weights


if __name__ == "__main__":
    main()

"""Softmax (multinomial logistic) regression on the 8x8 digits, with the autodiff core only.

No nn, no optimiser: two tensors that require grad, a loss written with core ops, one call
to ``loss.backward()`` per mini-batch, and a plain SGD update under ``cr.no_grad()``.

    python examples/logistic_regression.py            # 40 epochs, ~96% test accuracy
    python examples/logistic_regression.py --quick    # 10 epochs, for tests and CI
    python examples/logistic_regression.py --epochs 100 --lr 0.2 --graph loss.dot

The data (1,797 digits from the UCI "Optical Recognition of Handwritten Digits" set,
CC BY 4.0) ships inside the package, so this runs offline.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

import chainrule as cr


def split_train_test(
    X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split into ``(X_train, y_train, X_test, y_test)``."""
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = round(len(X) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def cross_entropy(logits: cr.Tensor, y: np.ndarray) -> cr.Tensor:
    """Mean negative log-likelihood of the labels ``y`` under ``softmax(logits)``."""
    log_probs = cr.log_softmax(logits, axis=-1)
    return -log_probs[np.arange(len(y)), y].mean()


def accuracy(W: cr.Tensor, b: cr.Tensor, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of ``X`` whose highest-scoring class is the label."""
    with cr.no_grad():
        logits = cr.tensor(X) @ W + b
    return float((logits.numpy().argmax(axis=1) == y).mean())


def train(
    epochs: int, lr: float, batch_size: int, seed: int, graph: str | None = None
) -> dict[str, float]:
    """Train on 80% of the digits and return the final losses and accuracies."""
    X, y = cr.datasets.digits()
    X_train, y_train, X_test, y_test = split_train_test(X, y, test_fraction=0.2, seed=seed)
    n_features, n_classes = X.shape[1], 10
    print(f"digits: {len(X_train)} train / {len(X_test)} test, {n_features} features")

    W = cr.zeros((n_features, n_classes), requires_grad=True)
    b = cr.zeros(n_classes, requires_grad=True)
    rng = np.random.default_rng(seed)
    loss = None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X_train))
        total, seen = 0.0, 0
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            xb, yb = cr.tensor(X_train[idx]), y_train[idx]
            loss = cross_entropy(xb @ W + b, yb)  # the forward pass records the graph
            loss.backward()  # ... and the chain rule runs backwards through it
            with cr.no_grad():  # the update itself must not be recorded
                W -= lr * W.grad
                b -= lr * b.grad
            W.grad = None
            b.grad = None
            total += loss.item() * len(idx)
            seen += len(idx)
        print(f"epoch {epoch:3d}/{epochs}  loss {total / seen:.4f}")
    elapsed = time.perf_counter() - start

    if graph is not None:
        logits = cr.tensor(X_test[:4]) @ W + b
        cr.viz.draw_graph(cross_entropy(logits, y_test[:4]), graph)
        print(f"graph of the loss written to {graph}")

    train_acc = accuracy(W, b, X_train, y_train)
    test_acc = accuracy(W, b, X_test, y_test)
    print(f"trained in {elapsed:.2f} s")
    print(f"train accuracy: {train_acc:.4f}")
    print(f"test accuracy: {test_acc:.4f}")
    return {"loss": total / seen, "train_accuracy": train_acc, "test_accuracy": test_acc}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (40)")
    parser.add_argument("--lr", type=float, default=0.5, help="SGD learning rate (0.5)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and shuffles")
    parser.add_argument("--quick", action="store_true", help="10 epochs (for tests and CI)")
    parser.add_argument("--graph", metavar="PATH", help="also write the loss graph (.dot)")
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (10 if args.quick else 40)
    return train(epochs, args.lr, args.batch_size, args.seed, args.graph)


if __name__ == "__main__":
    main()

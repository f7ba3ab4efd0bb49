"""A LeNet-like convolutional network on MNIST, about 99% test accuracy.

conv 5x5 (32) -> ReLU -> max-pool 2 -> conv 5x5 (64) -> ReLU -> max-pool 2 -> 256 -> 10.
Convolutions share one small filter across the whole image, so the network sees strokes
wherever they are; pooling makes it tolerant to small shifts (``nn.Conv2d`` and
``nn.MaxPool2d``).

The data are handled as in ``mnist_mlp.py``: ``cr.datasets.mnist()`` reads the four
standard files from ``~/.cache/chainrule/mnist`` (or ``--root``; ``--download`` fetches
them once); without them ``--quick`` and ``--stand-in`` train on the shipped 8x8 digits
scaled up to 28x28, and otherwise the script says where to put the files and stops.

    python examples/mnist_cnn.py --download   # 8 epochs on the 60,000 images
    python examples/mnist_cnn.py --quick      # 1 epoch on a subset, or the stand-in
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

import chainrule as cr
from chainrule import nn


def digits_as_mnist(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The shipped 8x8 digits, each pixel repeated 3x3 and padded by 2: (N, 1, 28, 28)
    in [0, 1] like MNIST; a seeded 80/20 train/test split."""
    X, y = cr.datasets.digits()
    images = np.kron(X.reshape(-1, 8, 8), np.ones((3, 3), np.float32))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None]
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = len(X) // 5
    te, tr = order[:n_test], order[n_test:]
    return images[tr], y[tr], images[te], y[te]


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """MNIST if its files are present (or may be downloaded), else the stand-in when
    allowed; exits with a message otherwise."""
    try:
        kw = {"root": args.root, "download": args.download, "verify": not args.no_verify}
        X_train, y_train = cr.datasets.mnist(train=True, **kw)
        X_test, y_test = cr.datasets.mnist(train=False, **kw)
    except cr.datasets.DatasetError as exc:
        print(f"MNIST is not available here:\n{exc}\n")
        if not (args.quick or args.stand_in):
            print("Pass --download to fetch it, or --stand-in to run on the shipped digits.")
            sys.exit(1)
        print("using the stand-in: the 8x8 digits shipped with chainrule, scaled to 28x28")
        return (*digits_as_mnist(args.seed), "digits stand-in")
    if args.quick:  # a subset, so that the quick run stays quick
        X_train, y_train = X_train[:3000], y_train[:3000]
        X_test, y_test = X_test[:1000], y_test[:1000]
    return X_train, y_train, X_test, y_test, "MNIST"


def make_cnn(c1: int, c2: int, hidden: int) -> nn.Sequential:
    """(N, 1, 28, 28) -> (N, 10): two conv/ReLU/pool stages and two Linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=5, padding=2),  # (N, c1, 28, 28)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, c1, 14, 14)
        nn.Conv2d(c1, c2, kernel_size=5, padding=2),  # (N, c2, 14, 14)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, c2, 7, 7)
        nn.Flatten(),
        nn.Linear(c2 * 7 * 7, hidden),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(hidden, 10),
    )


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, batch: int = 500) -> float:
    model.eval()
    correct = 0
    with cr.no_grad():
        for lo in range(0, len(X), batch):
            logits = model(cr.tensor(X[lo : lo + batch]))
            correct += int((logits.numpy().argmax(1) == y[lo : lo + batch]).sum())
    model.train()
    return correct / len(X)


def main(argv: Sequence[str] | None = None) -> float | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (8)")
    parser.add_argument("--channels", default="32,64", help="conv channels (32,64)")
    parser.add_argument("--hidden", type=int, default=256, help="fully connected width (256)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default=None, help="MNIST directory (~/.cache/chainrule/mnist)")
    parser.add_argument("--download", action="store_true", help="fetch MNIST if missing")
    parser.add_argument("--no-verify", action="store_true", help="skip the SHA-256 checks "
                        "(your own files in MNIST's IDX format)")  # fmt: skip
    parser.add_argument("--stand-in", action="store_true", help="use the digits if no MNIST")
    parser.add_argument("--quick", action="store_true", help="1 epoch on a subset (or stand-in)")
    args = parser.parse_args(argv)

    X_train, y_train, X_test, y_test, source = load_data(args)
    stand_in = source != "MNIST"
    default_epochs = (1 if not stand_in else 3) if args.quick else (8 if not stand_in else 15)
    epochs = args.epochs if args.epochs is not None else default_epochs
    c1, c2 = (int(c) for c in args.channels.split(","))
    if args.quick and args.channels == "32,64":
        c1, c2 = 8, 16  # a narrower net keeps the quick run to seconds
    print(f"data: {source}, {len(X_train)} train / {len(X_test)} test images, {epochs} epochs")

    cr.manual_seed(args.seed)
    model = make_cnn(c1, c2, args.hidden)
    print(f"model: conv{c1}-pool-conv{c2}-pool-{args.hidden}-10, "
          f"{model.num_parameters():,} parameters")  # fmt: skip
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    sched = cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    loader = cr.data.DataLoader(
        cr.data.TensorDataset(X_train, y_train),
        batch_size=args.batch_size,
        shuffle=True,
        seed=args.seed,
    )
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        sched.step()
        print(f"epoch {epoch:2d}/{epochs}  loss {total / len(X_train):.4f}  "
              f"test accuracy {evaluate(model, X_test, y_test):.4f}")  # fmt: skip
    elapsed = time.perf_counter() - start
    acc = evaluate(model, X_test, y_test)
    print(f"trained in {elapsed:.1f} s")
    print(f"test accuracy: {acc:.4f} ({source})")
    return acc


if __name__ == "__main__":
    main()

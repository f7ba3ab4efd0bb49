"""A multilayer perceptron on MNIST: 784 -> 512 -> 256 -> 10, Adam, about 98% test accuracy.

The MNIST files are read with ``cr.datasets.mnist()``, which checks each one by SHA-256.
They are not shipped with chainrule; put the four standard files
(``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) in
``~/.cache/chainrule/mnist`` (or ``--root``), or pass ``--download`` to fetch them once.
Without them the script says where to put them and stops -- except with ``--quick`` or
``--stand-in``, where it trains on a stand-in instead: the 8x8 digits that ship with
chainrule, scaled up to 28x28 so that the same network applies.

    python examples/mnist_mlp.py --download   # 12 epochs on the 60,000 images (~98.3%)
    python examples/mnist_mlp.py --quick      # 2 epochs on a subset, or the stand-in
"""

from __future__ import annotations

import argparse
import itertools
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
        X_train, y_train, X_test, y_test = (
            X_train[:6000],
            y_train[:6000],
            X_test[:2000],
            y_test[:2000],
        )
    return X_train, y_train, X_test, y_test, "MNIST"


def make_mlp(hidden: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    sizes = (784, *hidden)
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], 10))
    return nn.Sequential(*layers)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    with cr.no_grad():
        for lo in range(0, len(X), batch):
            logits = model(cr.tensor(X[lo : lo + batch]))
            correct += int((logits.numpy().argmax(1) == y[lo : lo + batch]).sum())
    model.train()
    return correct / len(X)


def main(argv: Sequence[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (12)")
    parser.add_argument("--hidden", default="512,256", help="hidden sizes (512,256)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default=None, help="MNIST directory (~/.cache/chainrule/mnist)")
    parser.add_argument("--download", action="store_true", help="fetch MNIST if missing")
    parser.add_argument("--no-verify", action="store_true", help="skip the SHA-256 checks "
                        "(your own files in MNIST's IDX format)")  # fmt: skip
    parser.add_argument("--stand-in", action="store_true", help="use the digits if no MNIST")
    parser.add_argument("--quick", action="store_true", help="2 epochs on a subset (or stand-in)")
    args = parser.parse_args(argv)

    X_train, y_train, X_test, y_test, source = load_data(args)
    stand_in = source != "MNIST"
    default_epochs = (2 if not stand_in else 8) if args.quick else (12 if not stand_in else 20)
    epochs = args.epochs if args.epochs is not None else default_epochs
    hidden = [int(h) for h in args.hidden.split(",")]
    print(f"data: {source}, {len(X_train)} train / {len(X_test)} test images, {epochs} epochs")

    cr.manual_seed(args.seed)
    model = make_mlp(hidden)
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    sched = cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    loader = cr.data.DataLoader(
        cr.data.TensorDataset(X_train, y_train),
        batch_size=args.batch_size,
        shuffle=True,
        seed=args.seed,
    )
    shape = "-".join(map(str, [784, *hidden, 10]))
    print(f"model: MLP {shape}, {model.num_parameters():,} parameters")
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

"""Diagnose a network full of dead ReLUs with ``cr.diagnostics``, then fix it.

A ReLU unit is *dead* when its input is negative for every example: it outputs 0,
passes no gradient back, and so the weights feeding it never change again. Here a
4-hidden-layer MLP on the 8x8 digits is initialised badly -- tiny weights, N(0, 0.01^2),
and a negative bias -- so almost every unit starts dead and training goes nowhere.
``cr.diagnostics.report`` shows it layer by layer (dead fraction, vanishing gradients,
updates far too small). The fix: He initialisation (``nn.init.kaiming_normal_``, which
keeps the variance of ReLU activations constant from layer to layer) and a small
positive bias (0.01), so every unit starts alive. The report is clean, and the same
training now works.

    python examples/dead_relus.py           # 10 epochs per network
    python examples/dead_relus.py --quick   # 3 epochs
    python examples/dead_relus.py --plot hist.png   # histograms too (needs matplotlib)
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import numpy as np

import chainrule as cr
from chainrule import nn

HIDDEN = (128, 128, 128, 128)


def make_net() -> nn.Sequential:
    layers: list[nn.Module] = []
    sizes = (64, *HIDDEN)
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], 10))
    return nn.Sequential(*layers)


def bad_init(net: nn.Sequential) -> nn.Sequential:
    """Tiny weights and a negative bias: every pre-activation is about -0.1."""
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.constant_(m.bias, -0.1)
    return net


def he_init(net: nn.Sequential) -> nn.Sequential:
    """He et al. (2015): N(0, 2 / fan_in) for layers followed by a ReLU, and a small
    positive bias so that no unit starts on the flat side of its ReLU."""
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.constant_(m.bias, 0.01)
    return net


def relu_dead_fraction(rep: cr.diagnostics.Report) -> float:
    """The mean dead fraction over the ReLU layers."""
    fractions = [r["dead_fraction"] for r, t in zip(rep.rows, rep.module_types) if t == "ReLU"]
    return float(np.mean(fractions))


def train(net: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> list[float]:
    """Plain SGD with momentum; returns the mean loss of each epoch."""
    opt = cr.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=64, shuffle=True, seed=0)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        losses.append(total / len(X))
    return losses


def accuracy(net: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with cr.no_grad():
        return float((net.eval()(cr.tensor(X)).numpy().argmax(1) == y).mean())


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per network (10)")
    parser.add_argument("--lr", type=float, default=0.02, help="SGD learning rate (0.02)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="also write the histograms (PNG)")
    parser.add_argument("--quick", action="store_true", help="3 epochs per network")
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 10)

    X, y = cr.datasets.digits()
    order = np.random.default_rng(args.seed).permutation(len(X))
    train_idx, test_idx = order[:1400], order[1400:]
    Xtr, ytr, Xte, yte = X[train_idx], y[train_idx], X[test_idx], y[test_idx]
    xb, yb = Xtr[:256], ytr[:256]  # the batch the diagnostics look at
    loss_fn = nn.CrossEntropyLoss()

    cr.manual_seed(args.seed)
    broken = bad_init(make_net())
    rep_bad = cr.diagnostics.report(broken, xb, yb, loss_fn, lr=args.lr)
    print("== badly initialised: N(0, 0.01^2) weights, bias -0.1")
    print(rep_bad)

    cr.manual_seed(args.seed)
    fixed = he_init(make_net())
    rep_fixed = cr.diagnostics.report(fixed, xb, yb, loss_fn, lr=args.lr)
    print("\n== fixed: He (kaiming_normal_) weights, bias 0.01")
    print(rep_fixed)
    if args.plot:
        try:
            rep_bad.plot(args.plot)
            print(f"\nhistograms of the broken network written to {args.plot}")
        except cr.diagnostics.MissingDependencyError as exc:
            print(f"\n{exc}")

    dead_bad, dead_fixed = relu_dead_fraction(rep_bad), relu_dead_fraction(rep_fixed)
    print(f"\nReLU dead fraction: {dead_bad:.1%} -> {dead_fixed:.1%}")
    print(f"flagged layers: {len(rep_bad.flagged)} -> {len(rep_fixed.flagged)}")

    losses_bad = train(broken, Xtr, ytr, epochs, args.lr)
    losses_fixed = train(fixed, Xtr, ytr, epochs, args.lr)
    acc_bad, acc_fixed = accuracy(broken, Xte, yte), accuracy(fixed, Xte, yte)
    print(f"\nafter {epochs} epochs of the same SGD:")
    print(
        f"  broken: loss {losses_bad[0]:.3f} -> {losses_bad[-1]:.3f}, test accuracy {acc_bad:.3f}"
    )
    print(
        f"  fixed:  loss {losses_fixed[0]:.3f} -> {losses_fixed[-1]:.3f}, "
        f"test accuracy {acc_fixed:.3f}"
    )
    print(f"dead before: {dead_bad:.4f}")
    print(f"dead after: {dead_fixed:.4f}")
    print(f"test accuracy broken: {acc_bad:.4f}")
    print(f"test accuracy fixed: {acc_fixed:.4f}")
    return {
        "dead_bad": dead_bad,
        "dead_fixed": dead_fixed,
        "acc_bad": acc_bad,
        "acc_fixed": acc_fixed,
    }


if __name__ == "__main__":
    main()

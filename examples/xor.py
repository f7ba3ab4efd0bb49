"""XOR with the smallest network that can learn it: 2 inputs, 2 hidden units, 1 output.

XOR is the function a single linear layer cannot represent (no line separates
{(0,1), (1,0)} from {(0,0), (1,1)}); one hidden layer of two units bends the plane enough.
The 2-2-1 net has local minima, so a run that stalls is restarted from a new seed -- a
small, honest picture of why initialisation matters.

    python examples/xor.py            # up to 3000 Adam steps per attempt
    python examples/xor.py --quick    # up to 600 steps (it usually needs far fewer)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import chainrule as cr
from chainrule import nn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def make_net() -> nn.Sequential:
    """2 -> 2 (tanh) -> 1 (a logit: sigmoid of it is P(xor = 1))."""
    return nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))


def train_once(seed: int, steps: int, lr: float) -> tuple[nn.Sequential, float, int]:
    """Train from ``seed`` until the loss is below 0.01 or ``steps`` run out."""
    cr.manual_seed(seed)
    net = make_net()
    loss_fn = nn.BCEWithLogitsLoss()
    opt = cr.optim.Adam(net.parameters(), lr=lr)
    x, y = cr.tensor(X), cr.tensor(Y)
    loss_value = float("inf")
    used = 0
    while used < steps and loss_value >= 0.01:
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        used += 1
    return net, loss_value, used


def predict(net: nn.Module) -> np.ndarray:
    with cr.no_grad():
        return cr.sigmoid(net(cr.tensor(X))).numpy()


def main(argv: Sequence[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="steps per attempt (3000)")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first attempt")
    parser.add_argument("--attempts", type=int, default=5, help="restarts allowed (5)")
    parser.add_argument("--quick", action="store_true", help="600 steps per attempt")
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (600 if args.quick else 3000)

    accuracy = 0.0
    for attempt in range(args.attempts):
        seed = args.seed + attempt
        net, loss, used = train_once(seed, steps, args.lr)
        probs = predict(net)
        accuracy = float(((probs > 0.5) == (Y > 0.5)).mean())
        print(f"seed {seed}: loss {loss:.4f} after {used} steps, accuracy {accuracy:.0%}")
        if accuracy == 1.0:
            break
        print("  stuck in a local minimum; restarting from the next seed")

    print("\n x1 x2 | xor | P(xor = 1)")
    for (a, b), t, p in zip(X, Y[:, 0], probs[:, 0]):
        print(f"  {a:.0f}  {b:.0f} |  {t:.0f}  | {p:.3f}")
    print(f"\nhidden layer weights:\n{net[0].weight.numpy()}\nbiases: {net[0].bias.numpy()}")
    print(f"accuracy: {accuracy:.2f}")
    return accuracy


if __name__ == "__main__":
    main()

"""Write your own module with a hand-written backward, and check it.

A module's derivative normally comes for free: its forward is built from chainrule ops,
each with its rules. Sometimes you want to write the rules yourself -- a fused op that
saves memory, a numerically careful formula, or to learn how backprop really works. Then
the maths goes into a ``cr.Function`` (forward on arrays; backward, the vector-Jacobian
product, and optionally jvp, the Jacobian-vector product, on Tensors) and the module
calls ``MyFunction.apply`` in its ``forward``.

Hand-written derivatives are easy to get wrong, so check them:
``nn.utils.check_module(module, x)`` compares the input and parameter Jacobians of
reverse mode, forward mode and central differences, and the module's modular backward,
in float64. The script checks a correct module (it passes), shows that a subtly wrong
backward is caught, and then trains the correct one.

    python examples/custom_module.py           # 300 training steps
    python examples/custom_module.py --quick   # 100 steps
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn


class SoftplusLinearFn(cr.Function):
    """``y = softplus(x @ W.T + b)``, one fused op with its three rules written by hand.

    With ``z = x W^T + b`` and ``s = sigmoid(z)`` (the derivative of softplus):
    ``dL/dz = g * s``, ``dL/dx = dL/dz W``, ``dL/dW = dL/dz^T x``, ``dL/db = sum_n dL/dz``.
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = x @ w.T + b
        ctx.save_for_backward(x, w, z)
        return np.logaddexp(0.0, z).astype(z.dtype)  # softplus, stable for any z

    @staticmethod
    def backward(ctx: Any, g: cr.Tensor) -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
        x, w, z = ctx.saved_tensors  # Tensors: this backward is itself differentiable
        dz = g * cr.sigmoid(z)
        return dz @ w, dz.T @ x, dz.sum(axis=0)

    @staticmethod
    def jvp(ctx: Any, tx: cr.Tensor, tw: cr.Tensor, tb: cr.Tensor) -> cr.Tensor:
        x, w, z = ctx.saved_tensors
        dz = tx @ w.T + x @ tw.T + tb  # the tangent of z (product rule)
        return cr.sigmoid(z) * dz


class BuggySoftplusLinearFn(SoftplusLinearFn):
    """The same op with a classic slip: the weight gradient forgets the chain rule
    through the activation (``g^T x`` instead of ``(g * s)^T x``)."""

    @staticmethod
    def backward(ctx: Any, g: cr.Tensor) -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
        x, w, z = ctx.saved_tensors
        dz = g * cr.sigmoid(z)
        return dz @ w, g.T @ x, dz.sum(axis=0)


class SoftplusLinear(nn.Module):
    """A Linear layer followed by softplus, through the hand-written op.

    Shapes: (N, in_features) -> (N, out_features). Parameters as ``nn.Linear``.
    """

    fn: type[cr.Function] = SoftplusLinearFn

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(np.zeros((out_features, in_features), np.float32))
        self.bias = nn.Parameter(np.zeros(out_features, np.float32))
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fn.apply(x, self.weight, self.bias)


class BuggySoftplusLinear(SoftplusLinear):
    fn = BuggySoftplusLinearFn


def check(module: nn.Module, x: cr.Tensor) -> tuple[bool, str]:
    """``check_module``'s verdict and, when it fails, the first line of its message."""
    try:
        return nn.utils.check_module(module, x), ""
    except cr.GradcheckError as exc:
        return False, str(exc).splitlines()[0]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100 training steps")
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (100 if args.quick else 300)

    cr.manual_seed(args.seed)
    x = cr.randn(5, 4)
    good = SoftplusLinear(4, 3)
    ok, _ = check(good, x)
    print(f"check_module(SoftplusLinear): {'passed' if ok else 'FAILED'}")

    # the same forward as plain chainrule ops agrees with the fused op
    with cr.no_grad():
        ref = nn.functional.softplus(nn.functional.linear(x, good.weight, good.bias))
        same = np.allclose(good(x).numpy(), ref.numpy(), atol=1e-6)
    print(f"forward matches softplus(linear(x)): {same}")

    bad = BuggySoftplusLinear(4, 3)
    bad.load_state_dict(good.state_dict())
    bad_ok, message = check(bad, x)
    print(f"check_module(BuggySoftplusLinear): {'passed' if bad_ok else 'FAILED'}")
    print(f"  {message}")
    print(f"wrong backward caught: {not bad_ok}")

    # train the checked module like any other: regress y = |x| on [-2, 2]
    cr.manual_seed(args.seed)
    model = nn.Sequential(SoftplusLinear(1, 16), nn.Linear(16, 1))
    xs = np.linspace(-2, 2, 64, dtype=np.float32)[:, None]
    xt, yt = cr.tensor(xs), cr.tensor(np.abs(xs))
    opt = cr.optim.Adam(model.parameters(), lr=0.03)
    loss_fn = nn.MSELoss()
    first = last = 0.0
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        if step == 0:
            first = loss.item()
        last = loss.item()
    print(f"training y = |x|: loss {first:.4f} -> {last:.4f} in {steps} steps")
    return {"good": ok, "caught": not bad_ok, "first": first, "last": last}


if __name__ == "__main__":
    main()

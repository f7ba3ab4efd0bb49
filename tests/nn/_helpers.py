"""Small modules and helpers shared by the nn tests (kept local so these tests do not
depend on the activation modules written elsewhere)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn


class ReLU(nn.Module):
    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x.relu()


class Tanh(nn.Module):
    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x.tanh()


def rand(*shape: int, seed: int = 0, requires_grad: bool = False) -> cr.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return cr.tensor(data, requires_grad=requires_grad)


def grads(module: nn.Module) -> dict[str, np.ndarray]:
    return {n: p.grad.numpy().copy() for n, p in module.named_parameters() if p.grad is not None}


def assert_grads_close(a: dict, b: dict, **tol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], err_msg=k, **(tol or {"rtol": 1e-5, "atol": 1e-6}))

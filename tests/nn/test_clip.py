"""Gradient clipping against torch.nn.utils, and its edge cases."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

SHAPES = [(5, 4), (4,), (), (2, 3, 2)]


def pair(torch: Any, seed: int, scale: float, none_at: int | None = None) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, s in enumerate(SHAPES):
        p = cr.Tensor(np.zeros(s, np.float32), requires_grad=True)
        q = torch.zeros(s, requires_grad=True)
        if i != none_at:
            g = np.asarray(scale * rng.standard_normal(s), dtype=np.float32)
            p.grad = cr.Tensor(g.copy())
            q.grad = torch.from_numpy(g.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf", 0.0])
@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_clip_grad_norm_matches_torch(norm_type: Any, scale: float) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = pair(torch, seed=int(scale * 100) % 7, scale=scale, none_at=1)
    total = cr.nn.utils.clip_grad_norm_(ours, max_norm=1.5, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == () and total.dtype == np.float32
    assert total._node is None and not total.requires_grad
    np.testing.assert_allclose(float(total), float(ttotal), rtol=1e-6)
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.torch
@pytest.mark.parametrize("clip_value", [0.0, 0.1, 1.0, 100.0])
def test_clip_grad_value_matches_torch(clip_value: float) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = pair(torch, seed=3, scale=2.0, none_at=2)
    assert cr.nn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q in zip(ours, theirs):
        if q.grad is not None:
            np.testing.assert_array_equal(p.grad.data, q.grad.numpy())


def test_clip_grad_norm_in_place_and_value() -> None:
    p = cr.Tensor(np.zeros(2, np.float32), requires_grad=True)
    p.grad = cr.Tensor(np.array([3.0, 4.0], np.float32))
    arr = p.grad.data
    total = cr.nn.utils.clip_grad_norm_(p, max_norm=1.0)  # a single tensor works
    assert float(total) == pytest.approx(5.0)
    assert p.grad.data is arr  # modified in place
    np.testing.assert_allclose(arr, [0.6, 0.8], rtol=1e-5)
    total = cr.nn.utils.clip_grad_norm_([p], max_norm=10.0)  # below the limit: unchanged
    assert float(total) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(arr, [0.6, 0.8], rtol=1e-5)


def test_clip_grad_norm_after_backward_then_step() -> None:
    w = cr.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    loss = cr.sum(w * w) * 10.0  # grad = 20 w = [20, 40]
    loss.backward()
    cr.nn.utils.clip_grad_norm_([w], 1.0)
    assert float(np.linalg.norm(w.grad.data)) == pytest.approx(1.0, rel=1e-5)
    optim.SGD([w], lr=1.0).step()
    np.testing.assert_allclose(w.data, [1.0 - 1 / 5**0.5, 2.0 - 2 / 5**0.5], rtol=1e-5)


def test_clip_without_grads() -> None:
    p = cr.Tensor(np.ones(3, np.float32), requires_grad=True)
    total = cr.nn.utils.clip_grad_norm_([p], 1.0)
    assert isinstance(total, cr.Tensor) and float(total) == 0.0
    cr.nn.utils.clip_grad_value_([p], 1.0)
    assert p.grad is None
    assert float(cr.nn.utils.clip_grad_norm_([], 1.0)) == 0.0


def test_clip_nonfinite() -> None:
    p = cr.Tensor(np.zeros(3, np.float32), requires_grad=True)
    p.grad = cr.Tensor(np.array([1.0, np.inf, 2.0], np.float32))
    with pytest.raises(cr.AnomalyError, match="non-finite"):
        cr.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.data, [1.0, np.inf, 2.0])  # left alone
    total = cr.nn.utils.clip_grad_norm_([p], 1.0)
    assert math.isinf(float(total))


def test_clip_errors() -> None:
    p = cr.Tensor(np.zeros(3, np.float32), requires_grad=True)
    with pytest.raises(cr.nn.utils.ClipError, match="max_norm"):
        cr.nn.utils.clip_grad_norm_([p], -1.0)
    with pytest.raises(cr.nn.utils.ClipError, match="clip_value"):
        cr.nn.utils.clip_grad_value_([p], -0.1)
    with pytest.raises(cr.nn.utils.ClipError, match="is a ndarray"):
        cr.nn.utils.clip_grad_norm_([np.zeros(3)], 1.0)


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(norm_type: Any) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = pair(torch, 3, 2.0, none_at=1)
    total = cr.nn.utils.get_total_norm([p.grad for p in ours], norm_type)
    t_total = torch.nn.utils.get_total_norm([q.grad for q in theirs if q.grad is not None],
                                            norm_type)  # fmt: skip
    np.testing.assert_allclose(total.numpy(), t_total.numpy(), rtol=1e-6)
    cr.nn.utils.clip_grads_with_norm_(ours, 1.5, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 1.5, t_total)
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_the_two_halves_are_clip_grad_norm() -> None:
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    one = [cr.Tensor(np.zeros(s, np.float32), requires_grad=True) for s in SHAPES]
    two = [cr.Tensor(np.zeros(s, np.float32), requires_grad=True) for s in SHAPES]
    for p, q, g in zip(one, two, grads):
        p.grad, q.grad = cr.Tensor(g.copy()), cr.Tensor(g.copy())
    total = cr.nn.utils.clip_grad_norm_(one, 0.5)
    total2 = cr.nn.utils.get_total_norm([q.grad for q in two])
    cr.nn.utils.clip_grads_with_norm_(two, 0.5, total2)
    assert float(total) == float(total2)
    for p, q in zip(one, two):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    with pytest.raises(cr.nn.utils.ClipError, match="item 0 is a ndarray"):
        cr.nn.utils.get_total_norm([grads[0]])
    with pytest.raises(cr.AnomalyError, match="total norm"):
        cr.nn.utils.get_total_norm([cr.tensor([np.inf])], error_if_nonfinite=True)

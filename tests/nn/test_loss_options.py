"""PyTorch's loss options on hypothesis-drawn shapes, labels and settings, against torch:
class weights, ignore_index (sometimes hit, sometimes every label), label smoothing,
probability targets, pos_weight, every reduction; loss values and input gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=60, deadline=None)
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def _check_against_torch(name: str, x0: np.ndarray, target: np.ndarray, options: dict) -> None:
    """``F.<name>(x, target, **options)`` in both libraries: the losses, and the input
    gradients for a random cotangent where the loss is finite."""
    x, tx = cr.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    t_options = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    loss = getattr(F, name)(x, target, **options)
    t_loss = getattr(torch.nn.functional, name)(tx, torch.tensor(target), **t_options)
    np.testing.assert_allclose(loss.numpy(), t_loss.detach().numpy(), rtol=1e-9, atol=1e-12)
    if np.all(np.isfinite(loss.numpy())):
        u = np.random.default_rng(0).standard_normal(loss.shape)
        (loss * cr.tensor(u)).sum().backward()
        (t_loss * torch.tensor(u)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@st.composite
def class_problems(draw: Any) -> dict:
    classes = draw(st.integers(2, 5))
    batch = draw(st.sampled_from([(), (3,), (2, 2), (4, 1, 2)]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch[0], classes, *batch[1:]) if batch else (classes,)) * 2
    label_shape = (batch[0], *batch[1:]) if batch else ()
    probs = draw(st.booleans())
    options: dict[str, Any] = {"reduction": draw(REDUCTIONS)}
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 3.0, classes)
    if draw(st.booleans()):
        options["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    if probs:
        z = rng.standard_normal(x.shape)
        axis = 1 if x.ndim > 1 else 0
        target = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
    else:
        target = rng.integers(0, classes, label_shape)
        ignore = draw(st.sampled_from([None, -100, 0, classes - 1]))
        if ignore is not None:
            options["ignore_index"] = ignore
            hit = draw(st.sampled_from(["none", "some", "all"]))
            if hit == "all":
                target = np.full(label_shape, ignore)
            elif hit == "some" and target.size:
                target.flat[0] = ignore
    return {"x": x, "target": target, "options": options}


@SETTINGS
@given(class_problems())
def test_cross_entropy_options_match_torch(problem: dict) -> None:
    _check_against_torch("cross_entropy", problem["x"], problem["target"], problem["options"])


@SETTINGS
@given(class_problems())
def test_nll_options_match_torch(problem: dict) -> None:
    x0, target, options = problem["x"], problem["target"], problem["options"]
    if target.dtype.kind == "f":
        return  # nll_loss takes labels only
    options = {k: v for k, v in options.items() if k != "label_smoothing"}
    _check_against_torch("nll_loss", x0, target, options)


@SETTINGS
@given(
    st.sampled_from([(5,), (3, 4), (2, 3, 2)]),
    st.integers(0, 2**32 - 1),
    REDUCTIONS,
    st.booleans(),
    st.booleans(),
)
def test_bce_with_logits_options_match_torch(shape: tuple, seed: int, reduction: str,
                                             weighted: bool, pos: bool) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    x0, t = rng.standard_normal(shape) * 4, rng.uniform(0, 1, shape)
    options: dict[str, Any] = {"reduction": reduction}
    if weighted:
        options["weight"] = rng.uniform(0.1, 2.0, shape[-1:])
    if pos:
        options["pos_weight"] = rng.uniform(0.1, 3.0, shape[-1:])
    _check_against_torch("binary_cross_entropy_with_logits", x0, t, options)

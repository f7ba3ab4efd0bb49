"""chainrule.nn.functional: every entry of the nn oracle table (NN_OPS) through the same
generic checks as the core table, plus targeted tests of stability at extreme inputs,
label and shape errors, dropout, reproducibility and reductions."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ShapeError
from chainrule.ops import nn as nn_ops
from chainrule.ops.nn import ArgumentError, LabelError
from chainrule.testing import oracle
from chainrule.testing.oracle import OpInfo, Sample
from chainrule.testing.oracle_nn import NN_OPS, REDUCTIONS


def _cases(keep: Callable[[OpInfo], bool] = lambda op: True) -> list:
    return [
        pytest.param(op, sample, id=f"{op.name}-{k}")
        for op in NN_OPS
        if keep(op)
        for k, sample in enumerate(op.samples())
    ]


# ---- the table, case by case ------------------------------------------------------------


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.supports_gradcheck))
def test_gradcheck(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_gradcheck(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.supports_fwd))
def test_forward_vs_reverse_jacobian(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_fwd_rev(op, sample) is not None


@pytest.mark.parametrize(
    ("op", "sample"), _cases(lambda op: op.supports_double and op.supports_gradcheck)
)
def test_double_backward(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_gradgrad(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.ref_fn is not None))
def test_forward_vs_numpy(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_reference(op, sample) is not None


@pytest.mark.torch
@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.torch_fn is not None))
def test_vs_torch(op: OpInfo, sample: Sample) -> None:
    pytest.importorskip("torch")
    assert oracle.check_torch(op, sample) is not None


def test_table_covers_every_function_and_reduction() -> None:
    names = {op.name for op in NN_OPS}
    for fn in ["relu", "leaky_relu", "noisy_relu_eval", "noisy_relu_train", "elu", "softplus",
               "sigmoid", "tanh", "hardtanh", "gelu", "gelu_tanh", "softmax", "log_softmax",
               "relu6", "hardsigmoid", "hardswish", "mish", "softsign", "logsigmoid", "selu",
               "celu", "prelu", "tanhshrink", "hardshrink", "softshrink", "glu", "softmin",
               "smooth_l1_loss", "kl_div", "margin_ranking_loss", "soft_margin_loss",
               "poisson_nll_loss", "gaussian_nll_loss", "threshold", "multi_margin_loss",
               "dropout_eval", "dropout_train", "linear", "mse_loss", "l1_loss", "huber_loss",
               "cross_entropy", "nll_loss", "binary_cross_entropy",
               "binary_cross_entropy_with_logits", "hinge_loss_binary",
               "hinge_loss_multiclass", "cross_entropy[weight, ignore_index, label_smoothing]",
               "cross_entropy[weight as input]", "nll_loss[weight, ignore_index]",
               "binary_cross_entropy[weight]", "binary_cross_entropy[weight as input]",
               "binary_cross_entropy_with_logits[weight, pos_weight]",
               "binary_cross_entropy_with_logits[weights as inputs]", "channel_shuffle",
               "local_response_norm", "lp_pool1d", "lp_pool2d", "max_unpool1d", "max_unpool2d",
               "max_unpool3d", "pdist", "multilabel_margin_loss", "rrelu_eval", "rrelu_train",
               "alpha_dropout_eval", "alpha_dropout_train", "gumbel_softmax",
               "gumbel_softmax_hard", "embedding_bag",
               "triplet_margin_with_distance_loss", "ctc_loss", "ctc_loss[log_probs]",
               "conv3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "conv_transpose3d",
               "adaptive_max_pool3d", "lp_pool3d", "relu_", "elu_", "celu_", "selu_",
               "leaky_relu_", "hardtanh_", "rrelu_[eval]", "rrelu_[train]",
               "threshold_"]:  # fmt: skip
        assert f"F.{fn}" in names
    for op in NN_OPS:
        if "loss" in op.name or "entropy" in op.name:
            seen = {s.kwargs.get("reduction", "mean") for s in op.samples()}
            assert seen == set(REDUCTIONS), op.name
    ce = [s for op in NN_OPS if op.name == "F.cross_entropy" for s in op.samples()]
    assert any(s.args[1].dtype.kind == "i" and s.args[0].ndim == 3 for s in ce)
    assert any(s.args[1].dtype.kind == "f" for s in ce)


# ---- stability at extreme inputs -----------------------------------------------------------


def _onehot(labels: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[labels]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_finite_at_huge_logits_and_gradient_is_softmax_minus_onehot(
    dtype: Any,
) -> None:
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = cr.tensor(x, requires_grad=True)
        loss = F.cross_entropy(t, y, reduction="sum")
        loss.backward()
    assert loss.dtype == dtype and np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), 2e4 + 0.0 + (1e4 - 3.0), rtol=1e-6)
    np.testing.assert_allclose(t.grad.numpy(), _softmax(x.astype(np.float64)) - _onehot(y, 3),
                               atol=1e-6)  # fmt: skip
    t.grad = None
    F.cross_entropy(t, y).backward()  # mean: divided by N
    np.testing.assert_allclose(t.grad.numpy(), (_softmax(x.astype(np.float64)) - _onehot(y, 3)) / 3,
                               atol=1e-6)  # fmt: skip


def test_cross_entropy_gradient_is_softmax_minus_onehot() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    t = cr.tensor(x, requires_grad=True)
    F.cross_entropy(t, y, reduction="sum").backward()
    np.testing.assert_allclose(t.grad.numpy(), _softmax(x) - _onehot(y, 4), atol=1e-12)
    # probabilities that sum to one: the same gradient, softmax minus the target
    p = _softmax(rng.standard_normal((6, 4)))
    t.grad = None
    F.cross_entropy(t, p, reduction="sum").backward()
    np.testing.assert_allclose(t.grad.numpy(), _softmax(x) - p, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_at_large_inputs(dtype: Any) -> None:
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=dtype)
    target = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    fns = {
        "softplus": F.softplus, "sigmoid": F.sigmoid, "elu": F.elu, "gelu": F.gelu,
        "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"), "tanh": F.tanh,
        "leaky_relu": F.leaky_relu, "log_softmax": F.log_softmax,
        "bce_with_logits": lambda v: F.binary_cross_entropy_with_logits(v, target,
                                                                        reduction="none"),
    }  # fmt: skip
    for name, fn in fns.items():
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise"):
            warnings.simplefilter("error")
            t = cr.tensor(x, requires_grad=True)
            y = fn(t)
            y.sum().backward()
        assert y.dtype == dtype, name
        assert np.isfinite(y.numpy()).all(), name
        assert np.isfinite(t.grad.numpy()).all(), name
    sp = F.softplus(cr.tensor(x)).numpy()
    assert sp[0] == 0 and sp[-1] == 1e4
    sg = F.sigmoid(cr.tensor(x)).numpy()
    assert sg[0] == 0 and sg[-1] == 1
    bce = F.binary_cross_entropy_with_logits(cr.tensor(x), target, reduction="none").numpy()
    np.testing.assert_allclose(bce[[0, -1]], [0, 0], atol=1e-30)
    np.testing.assert_allclose(bce[1], 100.0, rtol=1e-6)  # x = -100 with target 1


def test_binary_cross_entropy_clamps_the_log_like_torch() -> None:
    p = cr.tensor(np.array([0.0, 1.0, 0.5]), requires_grad=True)
    t = np.array([1.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy(p, t, reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0, math.log(2)])
    assert np.isfinite(p.grad.numpy()).all()


def test_erf_accuracy() -> None:
    z = np.linspace(-6, 27, 4001)
    want_erf = np.array([math.erf(v) for v in z])
    want_erfc = np.array([math.erfc(v) for v in z])
    np.testing.assert_allclose(nn_ops.erf(z), want_erf, rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(nn_ops.erfc(z), want_erfc, rtol=2e-15, atol=1e-300)
    assert nn_ops.erf(np.float32(0.5)).dtype == np.float32


# ---- bad input -------------------------------------------------------------------------------


def _raises(exc: type, *parts: str) -> Any:
    return pytest.raises(exc, match=".*".join(map(str, parts)))


def test_label_out_of_range_names_the_loss_value_and_range() -> None:
    x = cr.tensor(np.zeros((3, 5)))
    for fn in (F.cross_entropy, F.nll_loss, F.hinge_loss, F.multi_margin_loss):
        name = fn.__name__
        with _raises(F.LabelError, name, "label 5", "0..4"):
            fn(x, np.array([0, 5, 1]))
        with _raises(F.LabelError, name, "label -1", "0..4"):
            fn(x, np.array([0, -1, 1]))
    with pytest.raises(cr.ChainruleError) as info:
        F.cross_entropy(x, np.array([7, 0, 0]))
    assert isinstance(info.value, ValueError)
    with _raises(F.LabelError, "cross_entropy", "label 3", "0..2"):  # (N, C, d)
        F.cross_entropy(cr.tensor(np.zeros((2, 3, 4))), np.full((2, 4), 3))


def test_float_labels_are_rejected() -> None:
    x = cr.tensor(np.zeros((3, 5)))
    with _raises(F.LabelError, "cross_entropy", "integer dtype", "float"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with _raises(F.LabelError, "nll_loss", "integer dtype"):
        F.nll_loss(x, np.array([0.0, 1.0, 2.0]))
    with _raises(F.LabelError, "hinge_loss", "integer dtype"):
        F.hinge_loss(x, np.array([0.0, 1.0, 2.0]))


def test_wrong_target_shapes_name_the_loss_and_both_shapes() -> None:
    x = cr.tensor(np.zeros((3, 5)))
    with _raises(cr.ShapeError, "cross_entropy", r"\(4,\)", r"\(3, 5\)"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]))
    with _raises(cr.ShapeError, "cross_entropy", r"\(3, 4\)", r"\(3, 5\)"):
        F.cross_entropy(x, np.zeros((3, 4)))
    with _raises(cr.ShapeError, "nll_loss", r"\(3, 1\)", r"\(3, 5\)"):
        F.nll_loss(x, np.zeros((3, 1), dtype=np.int64))
    for fn in (F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy,
               F.binary_cross_entropy_with_logits):  # fmt: skip
        with _raises(cr.ShapeError, fn.__name__, r"\(3, 1\)", r"\(3,\)"):
            fn(cr.tensor(np.full(3, 0.5)), np.zeros((3, 1)))
    with _raises(cr.ShapeError, "hinge_loss", r"\(2,\)", r"\(3,\)"):
        F.hinge_loss(cr.tensor(np.zeros(3)), np.array([1, -1]))
    with _raises(cr.ShapeError, "linear", r"\(2, 3\)", r"\(4, 5\)"):
        F.linear(cr.tensor(np.zeros((2, 3))), cr.tensor(np.zeros((4, 5))))


def test_other_bad_arguments() -> None:
    x = cr.tensor(np.zeros(3))
    with _raises(F.ArgumentError, "mse_loss", "reduction", "avg"):
        F.mse_loss(x, np.zeros(3), reduction="avg")
    with _raises(F.LabelError, "hinge_loss", "-1 or \\+1", "0"):
        F.hinge_loss(x, np.array([1, 0, -1]))
    with _raises(F.ArgumentError, "binary_cross_entropy", "probabilities"):
        F.binary_cross_entropy(cr.tensor(np.array([0.5, 1.5])), np.zeros(2))
    with _raises(F.ArgumentError, "dropout", "1.5"):
        F.dropout(x, p=1.5)
    with _raises(F.ArgumentError, "gelu", "approximate"):
        F.gelu(x, approximate="fast")
    scores = np.zeros((2, 3))
    with _raises(F.ArgumentError, "multi_margin_loss: p must be 1 or 2, got 3"):
        F.multi_margin_loss(scores, np.array([0, 1]), p=3)
    with _raises(cr.ShapeError, "multi_margin_loss", "input must be", "got shape \\(2, 3, 1\\)"):
        F.multi_margin_loss(scores[..., None], np.array([0, 1]))
    with _raises(cr.ShapeError, "multi_margin_loss: weight shape \\(2,\\)", "shape \\(3,\\)"):
        F.multi_margin_loss(scores, np.array([0, 1]), weight=np.ones(2))
    with _raises(cr.ShapeError, "multi_margin_loss: target shape \\(3,\\)", "\\(2, 3\\)"):
        F.multi_margin_loss(scores, np.array([0, 1, 2]))
    for err in (F.ArgumentError, F.LabelError):
        assert issubclass(err, cr.ChainruleError) and issubclass(err, ValueError)


# ---- PyTorch's loss options ------------------------------------------------------------------


def test_labels_equal_to_the_default_ignore_index_are_ignored() -> None:
    # a -100 label used to be a LabelError; PyTorch ignores it by default
    x = cr.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, np.array([1, -100, 2]))
    kept = F.cross_entropy(cr.tensor(x.numpy()[[0, 2]]), np.array([1, 2]))
    np.testing.assert_allclose(loss.numpy(), kept.numpy())
    loss.backward()
    assert np.all(x.grad.numpy()[1] == 0)
    none = F.nll_loss(x, np.array([1, -100, 2]), reduction="none")
    assert none.numpy()[1] == 0


def test_every_label_ignored_gives_nan_mean_with_zero_gradients() -> None:
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    for kw in ({}, {"label_smoothing": 0.1}, {"weight": np.array([1.0, 2.0, 3.0])}):
        x.grad = None
        loss = F.cross_entropy(x, np.array([1, 1]), ignore_index=1, **kw)
        assert np.isnan(loss.item())
        loss.backward()
        assert np.all(x.grad.numpy() == 0)
        assert (
            F.cross_entropy(x, np.array([1, 1]), ignore_index=1, reduction="sum", **kw).item() == 0
        )


def test_fused_path_is_kept_without_options() -> None:
    x = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    assert F.cross_entropy(x, np.array([0, 2]))._node.name == "cross_entropy"
    assert F.cross_entropy(x, np.array([0, -100]))._node.name != "cross_entropy"


def test_loss_option_errors_name_the_loss_and_the_problem() -> None:
    x = cr.tensor(np.zeros((3, 4)))
    labels = np.array([0, 1, 2])
    with _raises(cr.ShapeError, "cross_entropy", "weight shape", r"\(3,\)", r"\(4,\)"):
        F.cross_entropy(x, labels, np.ones(3))
    with _raises(cr.ShapeError, "nll_loss", "weight shape", r"\(4,\)"):
        F.nll_loss(x, labels, np.ones((4, 1)))
    with _raises(F.ArgumentError, "cross_entropy", "label_smoothing", "1.5"):
        F.cross_entropy(x, labels, label_smoothing=1.5)
    with _raises(F.ArgumentError, "CrossEntropyLoss", "label_smoothing"):
        cr.nn.CrossEntropyLoss(label_smoothing=-0.1)
    with _raises(F.ArgumentError, "cross_entropy", "label_smoothing", "high"):
        F.cross_entropy(x, labels, label_smoothing="high")
    with _raises(F.ArgumentError, "cross_entropy", "ignore_index", "probabilities"):
        F.cross_entropy(x, np.full((3, 4), 0.25), ignore_index=0)
    with _raises(F.LabelError, "cross_entropy", "label 7", "0..3", "ignore_index 5"):
        F.cross_entropy(x, np.array([0, 7, 5]), ignore_index=5)
    with _raises(cr.ShapeError, "binary_cross_entropy_with_logits", "pos_weight", r"\(2,\)"):
        F.binary_cross_entropy_with_logits(x, np.zeros((3, 4)), pos_weight=np.ones(2))
    with _raises(cr.ShapeError, "binary_cross_entropy", "weight", r"\(3, 4\)"):
        F.binary_cross_entropy(cr.tensor(np.full((3, 4), 0.5)), np.zeros((3, 4)), np.ones(3))


def test_class_weights_that_require_grad_get_their_gradient() -> None:
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((5, 3)))
    labels = np.array([0, 2, 2, 1, 0])
    w = cr.tensor(rng.uniform(0.5, 2, 3), requires_grad=True)
    F.cross_entropy(x, labels, w).backward()
    # mean = sum_i w[y_i] l_i / sum_i w[y_i]: d/dw_c = sum_{y_i=c} (l_i - mean) / sum w[y]
    per = F.cross_entropy(x, labels, reduction="none").numpy()
    wy = w.numpy()[labels]
    mean = (wy * per).sum() / wy.sum()
    expect = [((per - mean) * (labels == c)).sum() / wy.sum() for c in range(3)]
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-10)


def test_loss_weights_are_buffers() -> None:
    m = cr.nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], ignore_index=1, label_smoothing=0.1)
    assert list(m.state_dict()) == ["weight"] and m.weight.dtype == np.float32
    assert m.double().weight.dtype == np.float64
    assert "ignore_index=1" in repr(m) and "label_smoothing=0.1" in repr(m)
    assert list(cr.nn.CrossEntropyLoss().state_dict()) == []
    b = cr.nn.BCEWithLogitsLoss(pos_weight=np.ones(3))
    assert list(b.state_dict()) == ["pos_weight"]
    fresh = cr.nn.BCEWithLogitsLoss(pos_weight=np.zeros(3))
    fresh.load_state_dict(b.state_dict())
    np.testing.assert_array_equal(fresh.pos_weight.numpy(), np.ones(3))


# ---- dropout and noise -------------------------------------------------------------------


def test_dropout_scales_survivors_and_is_identity_in_eval() -> None:
    cr.manual_seed(0)
    x = cr.tensor(np.ones((200, 50), dtype=np.float32), requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.02 and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy())  # the same mask and scale
    assert F.dropout(x, p=0.3, training=False) is x
    assert F.dropout(x, p=0.0) is x
    np.testing.assert_array_equal(F.dropout(x, p=1.0).numpy(), 0)


def test_random_functions_are_reproducible_under_manual_seed() -> None:
    x = cr.tensor(np.random.default_rng(1).standard_normal((8, 8)))
    cr.manual_seed(42)
    a = F.dropout(x, 0.5).numpy(), F.noisy_relu(x).numpy()
    cr.manual_seed(42)
    b = F.dropout(x, 0.5).numpy(), F.noisy_relu(x).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = F.dropout(x, 0.5).numpy()
    assert not np.array_equal(a[0], c)


def test_noisy_relu_noise_is_constant_in_backward_and_off_in_eval() -> None:
    x = cr.tensor(np.random.default_rng(2).standard_normal((5, 6)), requires_grad=True)
    cr.manual_seed(3)
    y = F.noisy_relu(x, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (y.numpy() > 0).astype(np.float64))
    assert not np.array_equal(y.numpy(), np.maximum(x.numpy(), 0))
    np.testing.assert_array_equal(F.noisy_relu(x, training=False).numpy(),
                                  np.maximum(x.numpy(), 0))  # fmt: skip


def test_noisy_relu_noise_variance_is_sigmoid() -> None:
    cr.manual_seed(4)
    x = np.full(200_000, 3.0)  # x + e < 0 has probability ~1e-3: y is x + e almost always
    y = F.noisy_relu(cr.tensor(x)).numpy()
    var = 1 / (1 + np.exp(-3.0))  # 0.953, told apart from 1 by 15 standard errors
    assert abs(y.mean() - 3.0) < 0.01 and abs(y.var() - var) < 0.01


# ---- reductions and dtypes -----------------------------------------------------------------


def _loss_calls() -> list[tuple[str, Callable[..., Any], tuple, tuple]]:
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    p, q = rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(0, 1, (4, 3))
    labels = rng.integers(0, 3, 4)
    return [
        ("mse_loss", F.mse_loss, (x, t), (4, 3)),
        ("l1_loss", F.l1_loss, (x, t), (4, 3)),
        ("huber_loss", F.huber_loss, (x, t), (4, 3)),
        ("cross_entropy", F.cross_entropy, (x, labels), (4,)),
        ("cross_entropy_nd", F.cross_entropy, (rng.standard_normal((2, 3, 5)),
                                               rng.integers(0, 3, (2, 5))), (2, 5)),
        ("nll_loss", F.nll_loss, (x, labels), (4,)),
        ("binary_cross_entropy", F.binary_cross_entropy, (p, q), (4, 3)),
        ("bce_with_logits", F.binary_cross_entropy_with_logits, (x, q), (4, 3)),
        ("hinge_binary", F.hinge_loss, (x[:, 0], np.array([1, -1, 1, -1])), (4,)),
        ("hinge_multiclass", F.hinge_loss, (x, labels), (4,)),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "fn", "args", "shape"), _loss_calls(),
                         ids=[c[0] for c in _loss_calls()])  # fmt: skip
def test_reductions(name: str, fn: Callable[..., Any], args: tuple, shape: tuple) -> None:
    none = fn(*args, reduction="none").numpy()
    assert none.shape == shape
    total = fn(*args, reduction="sum")
    mean = fn(*args, reduction="mean")
    assert total.shape == mean.shape == ()
    np.testing.assert_allclose(total.item(), none.sum(), rtol=1e-12)
    np.testing.assert_allclose(mean.item(), none.mean(), rtol=1e-12)
    np.testing.assert_allclose(fn(*args).item(), mean.item())  # "mean" is the default


@pytest.mark.parametrize(("name", "fn", "args", "shape"), _loss_calls(),
                         ids=[c[0] for c in _loss_calls()])  # fmt: skip
def test_float32_stays_float32(name: str, fn: Callable[..., Any], args: tuple,
                               shape: tuple) -> None:  # fmt: skip
    args32 = tuple(a.astype(np.float32) if a.dtype.kind == "f" else a for a in args)
    x = cr.tensor(args32[0], requires_grad=True)
    loss = fn(x, *args32[1:])
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_activations_keep_float32() -> None:
    x = cr.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    w = cr.tensor(np.ones((2, 4), dtype=np.float32), requires_grad=True)
    for y in (
        F.leaky_relu(x, 0.2),
        F.elu(x, 0.5),
        F.softplus(x, 2.0),
        F.hardtanh(x),
        F.gelu(x),
        F.gelu(x, "tanh"),
        F.dropout(x, 0.5),
        F.noisy_relu(x),
        F.linear(x, w, cr.tensor(np.zeros(2, dtype=np.float32))),
        F.softmax(x, dim=0),
    ):
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32  # fmt: skip


def test_linear_is_x_at_weight_t_plus_bias() -> None:
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    np.testing.assert_allclose(F.linear(x, w, b).numpy(), x @ w.T + b)
    np.testing.assert_allclose(F.linear(x, w).numpy(), x @ w.T)


def test_functions_run_without_recording() -> None:
    x = cr.tensor(np.linspace(-2, 2, 6).reshape(2, 3))
    with cr.no_grad():
        for y in (
            F.gelu(x),
            F.gelu(x, "tanh"),
            F.elu(x),
            F.softplus(x),
            F.leaky_relu(x),
            F.hardtanh(x),
            F.cross_entropy(x, np.array([0, 2])),
            F.linear(x, np.ones((4, 3)), np.ones(4)),
        ):
            assert not y.requires_grad  # fmt: skip


# ---- convolution and pooling re-exports ------------------------------------------------------


@pytest.mark.parametrize("name", ["conv1d", "conv2d", "max_pool2d", "avg_pool2d"])
def test_conv_functions_are_the_ops(name: str) -> None:
    from chainrule.ops import conv

    assert getattr(F, name) is getattr(conv, name)


@pytest.mark.torch
def test_hinge_margin_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((5, 4)) * 2, rng.integers(0, 4, 5)
    t = cr.tensor(x, requires_grad=True)
    loss = F.hinge_loss(t, y, margin=2.0, reduction="sum")
    loss.backward()
    tx = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.multi_margin_loss(tx, torch.tensor(y), margin=2.0, reduction="sum")
    want.backward()
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), atol=1e-12)


def test_bool_labels_are_rejected_as_labels() -> None:
    # a bool target of the label shape used to be reported as a shape mismatch
    x = cr.tensor(np.zeros((4, 3)))
    with _raises(F.LabelError, "cross_entropy", "integer dtype", "bool"):
        F.cross_entropy(x, np.array([True, False, True, False]))
    with _raises(F.LabelError, "nll_loss", "integer dtype", "bool"):
        F.nll_loss(x, np.array([True, False, True, False]))


@pytest.mark.parametrize(
    "fn", [F.binary_cross_entropy, F.binary_cross_entropy_with_logits], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("bad", [[1.0, -1.0, 1.0], [0.0, 2.0, 1.0], [0.0, np.nan, 1.0]])
def test_binary_targets_outside_0_1_are_rejected(fn: Callable[..., Any], bad: list) -> None:
    # +-1 targets (hinge-style) used to give a silently wrong loss
    x = cr.tensor(np.full(3, 0.5))
    with _raises(F.LabelError, fn.__name__, "target", r"\[0, 1\]"):
        fn(x, np.array(bad))
    fn(x, np.array([0.0, 0.25, 1.0]))  # soft targets inside [0, 1] stay fine


# ---- utilities with torch's names -----------------------------------------------------------


def test_normalize_one_hot_and_the_norm_functions() -> None:
    from chainrule.ops import norm

    assert F.batch_norm is norm.batch_norm and F.layer_norm is norm.layer_norm
    assert F.embedding is norm.embedding
    x = np.random.default_rng(0).standard_normal((3, 4))
    for p, dim in [(2, 1), (1, 0), (3, -1)]:
        want = x / np.maximum((np.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1 / p), 1e-12)
        np.testing.assert_allclose(F.normalize(cr.tensor(x), p=p, dim=dim).numpy(), want)
    labels = np.array([[0, 2], [1, 3]])
    hot = F.one_hot(labels)
    assert hot.dtype == np.int64 and hot.shape == (2, 2, 4) and not hot.requires_grad
    np.testing.assert_array_equal(hot.numpy(), np.eye(4, dtype=np.int64)[labels])
    assert F.one_hot(labels, 6).shape == (2, 2, 6)
    with _raises(F.LabelError, "one_hot", ">= 0", "-1"):
        F.one_hot(np.array([0, -1]))
    with _raises(F.LabelError, "one_hot", "label 5", "0..2"):
        F.one_hot(np.array([0, 5]), 3)
    with _raises(F.LabelError, "one_hot", "integer dtype"):
        F.one_hot(np.array([0.0, 1.0]))
    with _raises(F.ArgumentError, "one_hot", "num_classes"):
        F.one_hot(np.array([0, 1]), 0)


def test_soft_margin_twin_matches_torch_s_function() -> None:
    """The table's torch twin of soft_margin_loss is its definition in torch ops (torch's
    function refuses a target gradient); here its values meet the function's."""
    torch = pytest.importorskip("torch")
    from chainrule.testing.oracle_nn import _t_soft_margin

    rng = np.random.default_rng(0)
    x, t = torch.tensor(rng.normal(size=(3, 4)) * 3), torch.tensor(np.sign(rng.normal(size=(3, 4))))
    for red in REDUCTIONS:
        want = torch.nn.functional.soft_margin_loss(x, t, reduction=red)
        np.testing.assert_allclose(_t_soft_margin(x, t, red).numpy(), want.numpy(), rtol=1e-12)


# ---- pooling, channels, distances, multi-label margins and random compositions -----------------


def test_composed_pooling_and_channel_functions_bad_input() -> None:
    x4 = np.ones((2, 4, 3, 3))
    cases = [
        (lambda: F.channel_shuffle(np.ones((2, 6)), 2), cr.ShapeError, r"than 2.*\(2, 6\)"),
        (lambda: F.channel_shuffle(np.ones((2, 5, 3)), 2), cr.ShapeError, "5 channels.*2 groups"),
        (lambda: F.local_response_norm(np.ones((2, 4)), 3), cr.ShapeError, r"3 or more.*\(2, 4\)"),
        (lambda: F.local_response_norm(x4, 0), F.ArgumentError, "size must be an int >= 1"),
        (lambda: F.lp_pool2d(x4, 0, 2), F.ArgumentError, "norm_type must be a finite number > 0"),
        (lambda: F.lp_pool1d(x4[0], math.inf, 2), F.ArgumentError, "norm_type.*inf"),
        (lambda: F.pdist(np.ones(3)), cr.ShapeError, r"2-D input \(N, M\), got shape \(3,\)"),
        (lambda: F.pdist(np.ones((3, 2)), p=-1), F.ArgumentError, "p must be >= 0"),
        (lambda: F.rrelu(x4, 0.5, 0.2), F.ArgumentError, "lower <= upper.*0.5.*0.2"),
        (lambda: F.alpha_dropout(x4, 1.5, True), F.ArgumentError, "probability.*1.5"),
        (lambda: F.feature_alpha_dropout(np.ones(3), 0.5, True), cr.ShapeError, r"\(N, C, \*\)"),
        (lambda: F.gumbel_softmax(x4, tau=0), F.ArgumentError, "tau must be > 0"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_max_unpool_bad_input_names_the_problem() -> None:
    y, idx = F.max_pool2d(np.arange(32.0).reshape(1, 2, 4, 4), 2, return_indices=True)
    i = idx.numpy()
    with pytest.raises(cr.ShapeError, match=r"indices shape \(2, 2, 2\) does not match input "
                       r"shape \(1, 2, 2, 2\)"):  # fmt: skip
        F.max_unpool2d(y, i[0], 2)
    with pytest.raises(F.LabelError, match="integer dtype, got float64"):
        F.max_unpool2d(y, i.astype(float), 2)
    with pytest.raises(F.LabelError, match=r"index 16 is outside the output plane of size \(4, 4"):
        F.max_unpool2d(y, np.where(i == 15, 16, i), 2)
    with pytest.raises(cr.ShapeError, match=r"output_size \(7, 7\) must be within a stride"):
        F.max_unpool2d(y, i, 2, output_size=(7, 7))
    with pytest.raises(cr.ShapeError, match=r"\(N, C, H, W\) or unbatched"):
        F.max_unpool2d(np.ones(3), np.zeros(3, dtype=np.int64), 2)
    back = F.max_unpool2d(y, i, 2).numpy()  # the maxima back in place, zeros elsewhere
    want = np.zeros((1, 2, 4, 4))
    want[..., 1::2, 1::2] = y.numpy()
    np.testing.assert_array_equal(back, want)


def test_multilabel_margin_loss_bad_labels() -> None:
    x = np.zeros((2, 3))
    with pytest.raises(F.LabelError, match=r"label 3 is outside the valid range 0\.\.2"):
        F.multilabel_margin_loss(x, np.array([[0, 3, -1], [1, -1, 0]]))
    with pytest.raises(F.LabelError, match="integer dtype"):
        F.multilabel_margin_loss(x, np.zeros((2, 3)))
    with pytest.raises(cr.ShapeError, match=r"target shape \(2, 2\) does not match input shape"):
        F.multilabel_margin_loss(x, np.zeros((2, 2), dtype=np.int64))
    # entries after the first negative are ignored, whatever they hold
    ok = F.multilabel_margin_loss(x, np.array([[0, -1, 7], [1, -5, 9]]), reduction="none")
    np.testing.assert_allclose(ok.numpy(), [2 / 3, 2 / 3])


# ---- embedding bags and triplet losses with a distance function ------------------------------


def test_embedding_bag_bad_input_names_the_problem() -> None:
    w = np.zeros((4, 2))
    idx = np.array([0, 1, 2, 3])
    cases = [
        (lambda: F.embedding_bag(np.array([0, 7]), w, np.array([0])), cr.IndexingError,
         r"embedding_bag: index 7 is out of range for a table of 4 embeddings "
         r"\(valid indices are 0\.\.3\)"),
        (lambda: F.embedding_bag(np.array([[0, -1]]), w), cr.IndexingError, "index -1"),
        (lambda: F.embedding_bag(np.array([0.0, 1.0]), w, np.array([0])), cr.DTypeError,
         "embedding_bag: indices must be integers, got dtype float64"),
        (lambda: F.embedding_bag(idx, w, np.array([0.0, 2.0])), cr.DTypeError,
         "offsets must be integers"),
        (lambda: F.embedding_bag(idx, w, np.array([[0, 2]])), cr.ShapeError,
         r"offsets must be 1-D with at least one entry, got shape \(1, 2\)"),
        (lambda: F.embedding_bag(idx, w, np.array([1, 2])), F.ArgumentError,
         "offsets must start at 0.*got offsets\\[0\\] = 1"),
        (lambda: F.embedding_bag(idx, w, np.array([0, 3, 2])), F.ArgumentError,
         r"non-decreasing, got offsets\[1\] = 3 > offsets\[2\] = 2"),
        (lambda: F.embedding_bag(idx, w, np.array([0, 5])), F.ArgumentError,
         r"offsets must lie in 0\.\.4 \(the input length\), got offsets\[-1\] = 5"),
        (lambda: F.embedding_bag(idx, w, np.array([0, 2]), include_last_offset=True),
         F.ArgumentError, "include_last_offset the last offset must equal the input length 4, "
         "got 2"),
        (lambda: F.embedding_bag(idx, w), F.ArgumentError, r"1-D input \(4,\) needs 1-D offsets"),
        (lambda: F.embedding_bag(idx.reshape(2, 2), w, np.array([0])), F.ArgumentError,
         r"offsets must be None for 2-D input \(2, 2\)"),
        (lambda: F.embedding_bag(idx.reshape(1, 2, 2), w), cr.ShapeError,
         r"1-D \(with offsets\) or 2-D \(B, N\), got shape \(1, 2, 2\)"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), mode="avg"), F.ArgumentError,
         "mode must be 'sum', 'mean' or 'max', got 'avg'"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), mode="max",
                                 per_sample_weights=np.ones(4)), F.ArgumentError,
         "per_sample_weights are only supported with mode 'sum', got mode 'max'"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), mode="sum",
                                 per_sample_weights=np.ones(3)), cr.ShapeError,
         r"per_sample_weights shape \(3,\) does not match input shape \(4,\)"),
        (lambda: F.embedding_bag(idx, np.zeros(4), np.array([0])), cr.ShapeError,
         r"weight must be \(num_embeddings, dim\), got shape \(4,\)"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), padding_idx=4), cr.IndexingError,
         "padding_idx 4 is out of range for a table of 4"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), max_norm=-1.0), F.ArgumentError,
         "max_norm must be None or a positive number, got -1.0"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), scale_grad_by_freq=True),
         F.ArgumentError, "scale_grad_by_freq=True is not supported"),
        (lambda: F.embedding_bag(idx, w, np.array([0]), sparse=True), F.ArgumentError,
         "sparse=True is not supported"),
    ]  # fmt: skip
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_embedding_bag_max_ties_give_the_first_entry_the_gradient() -> None:
    # PyTorch's kernel keeps the first maximum of a bag (a later entry must be strictly
    # larger): rows 1 and 2 tie in column 0, rows 0 and 1 in column 1
    w = cr.tensor(np.array([[1.0, 5.0], [3.0, 5.0], [3.0, 0.0], [2.0, 2.0]]),
                  requires_grad=True)  # fmt: skip
    y = F.embedding_bag(np.array([0, 1, 2, 2, 1, 0]), w, np.array([0, 3]), mode="max")
    np.testing.assert_array_equal(y.numpy(), [[3, 5], [3, 5]])
    y.sum().backward()
    # bag 0 (rows 0, 1, 2): column 0 -> row 1, column 1 -> row 0; bag 1 (rows 2, 1, 0):
    # column 0 -> row 2, column 1 -> row 1
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 1], [1, 1], [1, 0], [0, 0]])
    w.grad = None
    F.embedding_bag(np.array([[1, 1]]), w, mode="max").sum().backward()  # one entry, once
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [1, 1], [0, 0], [0, 0]])


def test_embedding_bag_sum_mean_empty_bags_and_padding() -> None:
    w = cr.tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    idx, off = np.array([1, 1, 3, 2, 0]), np.array([0, 2, 2, 4])
    np.testing.assert_array_equal(F.embedding_bag(idx, w, off, mode="sum").numpy(),
                                  [[4, 6], [0, 0], [10, 12], [0, 1]])  # fmt: skip
    mean = F.embedding_bag(idx, w, off, mode="mean", padding_idx=3)
    np.testing.assert_array_equal(mean.numpy(), [[2, 3], [0, 0], [4, 5], [0, 1]])
    mean.sum().backward()  # row 1 twice in a bag of 2; the padding row 3 nothing
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [1, 1], [1, 1], [0, 0]])
    empty = F.embedding_bag(np.zeros(0, dtype=np.int64), w, np.array([0, 0, 0]), mode="max")
    np.testing.assert_array_equal(empty.numpy(), np.zeros((3, 2)))
    assert F.embedding_bag(idx, w.astype(np.float32), off).dtype == np.float32


def test_triplet_margin_with_distance_loss_default_and_bad_input() -> None:
    rng = np.random.default_rng(3)
    a, p, n = (rng.standard_normal((5, 4)) for _ in range(3))
    for kw in ({}, {"margin": 0.5, "swap": True, "reduction": "none"}):
        np.testing.assert_allclose(
            F.triplet_margin_with_distance_loss(a, p, n, **kw).numpy(),
            F.triplet_margin_loss(a, p, n, **kw).numpy(), rtol=1e-12)  # fmt: skip
    l1 = F.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda x, y: cr.abs(x - y).sum(-1), reduction="none"
    )
    want = np.maximum(np.abs(a - p).sum(-1) - np.abs(a - n).sum(-1) + 1.0, 0)
    np.testing.assert_allclose(l1.numpy(), want, rtol=1e-12)  # fmt: skip
    name = "triplet_margin_with_distance_loss"
    with pytest.raises(F.ArgumentError, match=f"{name}: margin must be a number > 0, got 0"):
        F.triplet_margin_with_distance_loss(a, p, n, margin=0)
    with pytest.raises(F.ArgumentError, match="distance_function must be callable"):
        F.triplet_margin_with_distance_loss(a, p, n, distance_function="l2")
    with pytest.raises(F.ArgumentError, match="reduction"):
        F.triplet_margin_with_distance_loss(a, p, n, reduction="avg")
    with pytest.raises(cr.ShapeError, match=r"same number of dimensions.*\(5, 4\), \(5, 4\) "
                       r"and \(4,\)"):  # fmt: skip
        F.triplet_margin_with_distance_loss(a, p, n[0])
    with pytest.raises(F.ArgumentError, match="TripletMarginWithDistanceLoss: margin"):
        cr.nn.TripletMarginWithDistanceLoss(margin=-1.0)


def test_alpha_dropout_keeps_selu_statistics_and_rrelu_slopes_lie_in_bounds() -> None:
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(0).standard_normal(200_000))
    y = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    assert (F.alpha_dropout(x, 1.0, training=True).numpy() == 0).all()
    assert F.alpha_dropout(x, 0.3) is x  # eval by default, as PyTorch's functional
    neg = cr.tensor(-np.ones(1000), requires_grad=True)
    out = F.rrelu(neg, 0.1, 0.3, training=True)
    out.sum().backward()
    slopes = neg.grad.numpy()
    assert (slopes >= 0.1).all() and (slopes <= 0.3).all() and slopes.std() > 0.03
    np.testing.assert_array_equal(out.numpy(), -slopes)
    np.testing.assert_allclose(F.rrelu(-np.ones(2), 0.1, 0.3).numpy(), [-0.2, -0.2])


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient() -> None:
    logits = cr.tensor(np.random.default_rng(1).standard_normal((4, 5)), requires_grad=True)
    w = cr.tensor(np.random.default_rng(2).standard_normal((4, 5)))
    cr.manual_seed(3)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    (hard * w).sum().backward()
    g_hard = logits.grad.numpy().copy()
    logits.grad = None
    cr.manual_seed(3)
    soft = F.gumbel_softmax(logits, tau=0.5)
    (soft * w).sum().backward()
    assert set(np.unique(hard.numpy())) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.numpy().sum(axis=1), np.ones(4))
    np.testing.assert_array_equal(hard.numpy().argmax(1), soft.numpy().argmax(1))
    np.testing.assert_allclose(g_hard, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---- ctc_loss ------------------------------------------------------------------------------


def _ctc_log_probs(t: int, n: int, c: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((t, n, c))
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.zeros((4, 3)), np.array([[1]]), [4], [1]), {}, ShapeError, r"targets must be \(S,\)"),
        ((np.zeros((4,)), np.array([1]), 4, 1), {}, ShapeError, r"\(T, N, C\) or unbatched"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [4], [1, 1]), {}, ShapeError,
         r"input_lengths must have shape \(2,\)"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [5, 4], [1, 1]), {}, ArgumentError,
         "input_lengths must be <= the number of time steps T=4, got 5"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [4, 4], [2, 1]), {}, ArgumentError,
         "target_lengths must be <= the target length S=1, got 2"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [4, 4], [-1, 1]), {}, ArgumentError,
         "target_lengths must be >= 0, got -1"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [4.0, 4.0], [1, 1]), {}, ArgumentError,
         "input_lengths must be integers, got dtype float"),
        ((np.zeros((4, 2, 3)), np.array([[1], [0]]), [4, 4], [1, 1]), {}, LabelError,
         "target label 0 equals blank"),
        ((np.zeros((4, 2, 3)), np.array([[1], [3]]), [4, 4], [1, 1]), {}, LabelError,
         r"target label 3 is outside the valid range 0..2"),
        ((np.zeros((4, 2, 3)), np.array([[1.0], [2.0]]), [4, 4], [1, 1]), {}, LabelError,
         "targets must have an integer dtype, got float64"),
        ((np.zeros((4, 2, 3)), np.array([1, 2]), [4, 4], [1, 2]), {}, ShapeError,
         "concatenated targets have length 2, but target_lengths sum to 3"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [4, 4], [1, 1]), {"blank": 3},
         ArgumentError, r"blank must be in 0..2"),
        ((np.zeros((4, 2, 3)), np.array([[1], [2]]), [4, 4], [1, 1]), {"reduction": "avg"},
         ArgumentError, "reduction must be"),
    ],
)  # fmt: skip
def test_ctc_loss_rejects_bad_inputs(args: tuple, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        F.ctc_loss(*args, **kwargs)


def test_ctc_loss_impossible_alignment() -> None:
    """Too few steps for the labels (a repeat needs a blank between): inf without
    zero_infinity, 0 with a zero gradient with it; never NaN, and the other sample's loss
    and gradient are untouched."""
    lp = _ctc_log_probs(3, 2, 4)
    targets, il, tl = np.array([[1, 1, 2], [3, 2, 0]]), [3, 3], [3, 2]
    for zero_inf in (False, True):
        x = cr.tensor(lp, requires_grad=True)
        loss = F.ctc_loss(x, targets, il, tl, reduction="none", zero_infinity=zero_inf)
        assert (np.isinf(loss.numpy()[0]) and loss.numpy()[0] > 0) != zero_inf
        assert np.isfinite(loss.numpy()[1])
        loss.sum().backward()
        g = x.grad.numpy()
        assert not np.isnan(g).any()
        assert (g[:, 0] == 0).all() and (g[:, 1] != 0).any()
    for red in ("mean", "sum"):
        x = cr.tensor(lp, requires_grad=True)
        loss = F.ctc_loss(x, targets, il, tl, reduction=red, zero_infinity=True)
        loss.backward()
        assert np.isfinite(loss.numpy()) and not np.isnan(x.grad.numpy()).any()


def test_ctc_loss_long_sequence_is_fast_and_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    T, N, C, S = 500, 4, 20, 100
    rng = np.random.default_rng(1)
    lp = _ctc_log_probs(T, N, C, seed=2)
    targets = rng.integers(1, C, (N, S))
    il, tl = np.array([500, 450, 300, 480]), np.array([100, 60, 40, 90])
    start = time.perf_counter()
    x = cr.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(x, targets, il, tl, reduction="sum")
    loss.backward()
    assert time.perf_counter() - start < 5.0
    tx = torch.tensor(lp, requires_grad=True)
    ref = torch.nn.functional.ctc_loss(tx, torch.tensor(targets), torch.tensor(il),
                                       torch.tensor(tl), reduction="sum")  # fmt: skip
    ref.backward()
    np.testing.assert_allclose(loss.numpy(), ref.item(), rtol=1e-10)
    # torch's gradient w.r.t. log_probs adds exp(log_probs) within the input lengths
    inside = (np.arange(T)[:, None] < il[None, :])[..., None]
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy() - np.exp(lp) * inside,
                               atol=1e-9)  # fmt: skip


def test_ctc_loss_module_matches_functional() -> None:
    lp = _ctc_log_probs(5, 2, 4)
    args = (lp, np.array([1, 2, 3]), cr.tensor(np.array([5, 4])), [2, 1])
    m = cr.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert "zero_infinity=True" in repr(m)
    np.testing.assert_allclose(m(*args).numpy(), F.ctc_loss(*args, reduction="sum").numpy())

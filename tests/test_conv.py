"""Convolution and pooling (chainrule.ops.conv): the oracle table CONV_OPS through the
generic checks of tests/test_oracle.py, plus shape errors, tie-breaking, memory layouts and
second derivatives of a small CNN against PyTorch."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.inspect import walk_nodes
from chainrule.autograd.function import Op
from chainrule.ops import conv
from chainrule.testing import oracle
from chainrule.testing.oracle import OpInfo, Sample
from chainrule.testing.oracle_conv import CONV_OPS, np_conv2d, np_max_pool2d


def _cases(keep: Callable[[OpInfo], bool] = lambda op: True) -> list:
    return [
        pytest.param(op, sample, id=f"{op.name}-{k}")
        for op in CONV_OPS
        if keep(op)
        for k, sample in enumerate(op.samples())
    ]


# ---- the table, case by case (the checks of tests/test_oracle.py) ---------------------------


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


def test_table_exercises_every_public_conv_op_class() -> None:
    """Each public Op class of chainrule.ops.conv is recorded by a CONV_OPS sample (the
    private ones are the adjoints of the pools, tested below)."""
    classes = {
        c
        for c in vars(conv).values()
        if isinstance(c, type)
        and issubclass(c, Op)
        and c.__module__ == conv.__name__
        and not c.__name__.startswith("_")
    }
    seen: set[type] = set()
    for op in CONV_OPS:
        for sample in op.samples():
            f, xs = oracle.bind(op, sample)
            out = f(*[cr.tensor(x, requires_grad=True) for x in xs])
            seen |= {node.fn for node in walk_nodes(out)}
    assert classes and not {c.__name__ for c in classes - seen}


def test_samples_are_deterministic_and_max_pool_has_no_ties() -> None:
    for op in CONV_OPS:
        a, b = op.samples(), op.samples()
        assert len(a) == len(b) > 0
        for s, t in zip(a, b):
            for x, y in zip(s.args, t.args):
                np.testing.assert_array_equal(x, y)
    for s in next(op for op in CONV_OPS if op.name == "max_pool2d").samples():
        x = s.args[0]
        assert np.unique(x).size == x.size


# ---- the pools' adjoint ops (what double backward records) ---------------------------------


def _pool_window(x_shape: tuple, **kw: Any) -> conv.Window:
    k, s = kw.get("kernel_size"), kw.get("stride")
    return conv._pool_window("test", x_shape, k, s, kw.get("padding", 0), kw.get("dilation", 1))


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (2, 3), "stride": 1},
    ],
)
def test_max_pool_scatter_and_gather_are_adjoint_ops(kw: dict) -> None:
    """Third order: the scatter (max_pool's backward) and the gather (its backward) each
    pass gradcheck and gradgradcheck on their own."""
    rng = np.random.default_rng(0)
    x_shape = (2, 2, 6, 7)
    win = _pool_window(x_shape, **kw)
    _, mask = conv._max_pool_forward(rng.standard_normal(x_shape), win)
    g = cr.tensor(rng.standard_normal((2, 2, win.oh, win.ow)))
    t = cr.tensor(rng.standard_normal(x_shape))

    def scatter(g: Any) -> Any:
        return conv._MaxPoolScatter.apply(g, mask=mask, win=win, x_shape=x_shape)

    def gather(t: Any) -> Any:
        return conv._MaxPoolGather.apply(t, mask=mask, win=win)

    for f, v in ((scatter, g), (gather, t)):
        assert cr.gradcheck(f, [v])
        assert cr.gradgradcheck(f, [v])
    # <scatter(g), t> == <g, gather(t)>
    lhs = float((scatter(g) * t).sum())
    rhs = float((g * gather(t)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_avg_pool_scatter_gradgradcheck() -> None:
    rng = np.random.default_rng(1)
    x_shape = (1, 2, 7, 6)
    win = _pool_window(x_shape, kernel_size=3, stride=2, padding=1)
    g = cr.tensor(rng.standard_normal((1, 2, win.oh, win.ow)))

    def scatter(g: Any) -> Any:
        return conv._AvgPoolScatter.apply(g, win=win, scale=1 / 9, x_shape=x_shape)

    assert cr.gradcheck(scatter, [g])
    assert cr.gradgradcheck(scatter, [g])


# ---- ties: the first maximum of each window gets the gradient (as PyTorch) -------------------


@pytest.mark.torch
@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 1},
        {"kernel_size": 3, "stride": 2, "padding": 1},
    ],
)
def test_max_pool_ties_go_to_the_first_maximum(kw: dict) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = np.maximum(rng.standard_normal((2, 3, 7, 8)), 0).round(0)  # many zeros and ones
    g = rng.standard_normal(np_max_pool2d(x, **kw).shape)
    xc = cr.tensor(x, requires_grad=True)
    (conv.max_pool2d(xc, **kw) * cr.tensor(g)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, **kw).backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (2, 3), "stride": (2, 1), "dilation": (2, 1), "ceil_mode": True},
    ],
)
def test_max_pool_indices_match_torch_with_ties(kw: dict) -> None:
    torch = pytest.importorskip("torch")
    x = np.maximum(np.random.default_rng(3).standard_normal((2, 3, 7, 8)), 0).round(0)
    y, idx = conv.max_pool2d(cr.tensor(x), **kw, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), **kw, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def test_max_pool_indices_point_at_the_maxima() -> None:
    x = np.random.default_rng(4).permutation(2 * 25).reshape(2, 5, 5).astype(float)
    y, idx = cr.nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(cr.tensor(x))
    assert idx.dtype == np.int64 and idx.shape == y.shape == (2, 3, 3) and not idx.requires_grad
    flat = x.reshape(2, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.numpy().reshape(2, -1), 1),
                                  y.numpy().reshape(2, -1))  # fmt: skip


def test_max_pool_all_equal_window() -> None:
    x = cr.tensor(np.zeros((1, 1, 2, 2)), requires_grad=True)
    conv.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


# ---- shapes, layouts and dtypes ------------------------------------------------------------


def test_shape_error_channel_mismatch_names_both_shapes() -> None:
    x, w = cr.zeros((2, 3, 8, 8)), cr.zeros((4, 2, 3, 3))
    with pytest.raises(cr.ShapeError, match=r"\(2, 3, 8, 8\).*\(4, 2, 3, 3\)"):
        conv.conv2d(x, w)
    with pytest.raises(cr.ShapeError, match=r"conv1d.*\(2, 3, 8\).*\(4, 2, 3\)"):
        conv.conv1d(cr.zeros((2, 3, 8)), cr.zeros((4, 2, 3)))


def test_shape_error_kernel_larger_than_input() -> None:
    with pytest.raises(cr.ShapeError, match="larger than the padded input"):
        conv.conv2d(cr.zeros((1, 1, 4, 4)), cr.zeros((1, 1, 5, 5)))
    with pytest.raises(cr.ShapeError, match="larger than the padded input"):
        conv.conv2d(cr.zeros((1, 1, 5, 5)), cr.zeros((1, 1, 3, 3)), dilation=3)
    conv.conv2d(cr.zeros((1, 1, 4, 4)), cr.zeros((1, 1, 5, 5)), padding=1)  # fits when padded
    with pytest.raises(cr.ShapeError, match="larger than the padded input"):
        conv.max_pool2d(cr.zeros((1, 1, 2, 2)), 3)


def test_shape_error_groups_not_dividing_channels() -> None:
    with pytest.raises(cr.ShapeError, match="not divisible by groups=2"):
        conv.conv2d(cr.zeros((1, 3, 5, 5)), cr.zeros((4, 1, 3, 3)), groups=2)
    with pytest.raises(cr.ShapeError, match=r"output channels 3.*not divisible by groups=2"):
        conv.conv2d(cr.zeros((1, 4, 5, 5)), cr.zeros((3, 2, 3, 3)), groups=2)


def test_other_argument_errors() -> None:
    x, w = cr.zeros((1, 2, 5, 5)), cr.zeros((3, 2, 3, 3))
    with pytest.raises(cr.ShapeError, match="bias shape"):
        conv.conv2d(x, w, cr.zeros(4))
    with pytest.raises(cr.ShapeError, match="4-D"):
        conv.conv2d(cr.zeros((5, 5)), w)
    with pytest.raises(cr.ShapeError, match="weight must be"):
        conv.conv2d(x, cr.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="stride 1"):
        conv.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="at most half"):
        conv.max_pool2d(x, 2, padding=2)
    with pytest.raises(cr.ShapeError):
        conv.conv2d_input((1, 2, 5, 5), w, cr.zeros((1, 3, 4, 4)))


def test_outputs_have_torch_shapes_and_batch_last_memory() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    y = conv.conv2d(x, w, stride=2)
    assert y.shape == (4, 5, 4, 3) and y.dtype == np.float32
    assert y.data.transpose(1, 2, 3, 0).flags.c_contiguous
    p = conv.max_pool2d(y, 2)
    assert p.shape == (4, 5, 2, 1) and p.data.transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("layout", ["c", "batch_last", "fortran", "strided"])
def test_any_input_layout_gives_the_same_result(layout: str) -> None:
    rng = np.random.default_rng(4)
    base = rng.standard_normal((3, 2, 7, 6))
    x = {
        "c": base,
        "batch_last": np.ascontiguousarray(base.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
        "fortran": np.asfortranarray(base),
        "strided": np.repeat(base, 2, axis=3)[..., ::2],
    }[layout]
    np.testing.assert_array_equal(x, base)
    w = rng.standard_normal((4, 2, 3, 2))
    xt = cr.tensor(x, requires_grad=True)
    y = conv.conv2d(xt, w, padding=1)
    np.testing.assert_allclose(y.numpy(), np_conv2d(base, w, padding=1), atol=1e-12)
    m = conv.max_pool2d(y, 2)
    g = rng.standard_normal(m.shape)
    (m * cr.tensor(g)).sum().backward()
    xc = cr.tensor(base, requires_grad=True)
    (conv.max_pool2d(conv.conv2d(xc, w, padding=1), 2) * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xc.grad.numpy(), atol=1e-12)


def test_float32_stays_float32_and_unbatched_inputs() -> None:
    rng = np.random.default_rng(5)
    x = cr.tensor(rng.standard_normal((2, 6, 6)).astype(np.float32), requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), requires_grad=True)
    b = cr.tensor(np.zeros(3, np.float32), requires_grad=True)
    y = conv.avg_pool2d(conv.max_pool2d(conv.conv2d(x, w, b, padding=1), 2), 3, 1, 1)
    assert y.shape == (3, 3, 3) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    batched = conv.conv2d(x.data[None], w.data, b.data, padding=1)
    np.testing.assert_allclose(conv.conv2d(x, w, b, padding=1).numpy(), batched.numpy()[0])
    y1 = conv.conv1d(np.ones((2, 5), np.float32), np.ones((3, 2, 2), np.float32))
    assert y1.shape == (3, 4)
    np.testing.assert_array_equal(y1.numpy(), 4.0)


def test_no_grad_and_in_place_write_to_saved_input() -> None:
    x = cr.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    w = cr.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    with cr.no_grad():
        y = conv.conv2d(x, w)
    assert not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), 9.0)
    h = x * 1.0
    y = conv.conv2d(h, w)
    with cr.no_grad():
        h += 1.0
    with pytest.raises(cr.GraphError, match="conv2d"):
        y.sum().backward()


# ---- second derivatives of a small CNN, against PyTorch -------------------------------------


@pytest.mark.torch
def test_gradient_penalty_of_a_small_cnn_matches_torch() -> None:
    """loss + |dloss/dparams|^2 backpropagated with create_graph: every conv and pool
    backward is recorded and differentiated again."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 9, 9))
    shapes = [(3, 2, 3, 3), (3,), (4, 3, 2, 2), (4,), (2, 4)]
    params = [rng.standard_normal(s) * 0.5 for s in shapes]

    def net(lib: Any, x: Any, w1: Any, b1: Any, w2: Any, b2: Any, wl: Any) -> Any:
        if lib is cr:
            h = conv.max_pool2d(cr.tanh(conv.conv2d(x, w1, b1, padding=1)), 3, 2, 1)
            h = conv.avg_pool2d(conv.conv2d(h, w2, b2, stride=1, dilation=2), 2)
            return ((h.reshape(2, -1) @ wl.T) ** 2).sum()
        h = F.max_pool2d(torch.tanh(F.conv2d(x, w1, b1, padding=1)), 3, 2, 1)
        h = F.avg_pool2d(F.conv2d(h, w2, b2, stride=1, dilation=2), 2)
        return ((h.reshape(2, -1) @ wl.T) ** 2).sum()

    ps = [cr.tensor(p, requires_grad=True) for p in params]
    xc = cr.tensor(x, requires_grad=True)
    loss = net(cr, xc, *ps)
    loss.backward(create_graph=True)
    penalty = sum((p.grad * p.grad).sum() for p in [*ps, xc])
    for t in [*ps, xc]:
        t.grad = None
    penalty.backward()

    pt = [torch.tensor(p, requires_grad=True) for p in params]
    xt = torch.tensor(x, requires_grad=True)
    lt = net(torch, xt, *pt)
    gt = torch.autograd.grad(lt, [*pt, xt], create_graph=True)
    sum((g * g).sum() for g in gt).backward()
    for a, b in zip([*ps, xc], [*pt, xt]):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_bad_argument_values_are_chainrule_errors() -> None:
    # these were plain ValueErrors (clear, but not ChainruleErrors)
    x, w = cr.zeros((1, 2, 5, 5)), cr.zeros((3, 2, 3, 3))
    cases = [
        (lambda: conv.conv2d(x, w, stride=0), "conv2d: stride must be >= 1"),
        (lambda: conv.conv2d(x, w, groups=0), "conv2d: groups must be a positive int"),
        (lambda: conv.conv2d(x, w, padding=-1), "conv2d: padding must be >= 0"),
        (lambda: conv.conv2d(x, w, padding="full"), "conv2d: padding must be"),
        (lambda: conv.conv2d(x, w, stride=(1, 2, 3)), "conv2d: stride must be an int or a pair"),
        (lambda: conv.max_pool2d(x, 0), "max_pool2d: kernel_size must be >= 1"),
        (lambda: conv.avg_pool2d(x, 2, stride=0), "avg_pool2d: stride must be >= 1"),
        (lambda: conv.conv1d(cr.zeros((1, 2, 5)), cr.zeros((3, 2, 3)), stride=(1, 1)), "conv1d"),
    ]
    for call, message in cases:
        with pytest.raises(cr.nn.functional.ArgumentError, match=re.escape(message)):
            call()


def test_empty_kernel_is_a_shape_error() -> None:
    # a (1, 1, 0, 0) weight used to give a (1, 1, 5, 5) output of zeros for a 4x4 input
    with pytest.raises(cr.ShapeError, match=r"conv2d: .*\(1, 1, 0, 0\) has an empty kernel"):
        conv.conv2d(cr.zeros((1, 1, 4, 4)), cr.zeros((1, 1, 0, 0)))
    with pytest.raises(cr.ShapeError, match=r"conv1d: .*\(1, 1, 0\).*empty kernel"):
        conv.conv1d(cr.zeros((1, 1, 4)), cr.zeros((1, 1, 0)))


# ---- 3-D convolution and pools (chainrule.nn.functional, by composition) -------------------


def test_3d_bad_inputs_name_the_function_and_the_shapes() -> None:
    F = cr.nn.functional
    x, w = cr.zeros((1, 4, 3, 4, 4)), cr.zeros((2, 4, 2, 2, 2))
    shape_errors = [
        (lambda: F.conv3d(cr.zeros((4, 4, 4)), w),
         "conv3d: expected input (N, C_in, D, H, W) (5-D, or 4-D unbatched), got shape (4, 4, 4)"),
        (lambda: F.conv3d(x, cr.zeros((2, 4, 2, 2))),
         "conv3d: weight must be (C_out, C_in/groups, kD, kH, kW), got shape (2, 4, 2, 2)"),
        (lambda: F.conv3d(x, cr.zeros((2, 3, 2, 2, 2))),
         "conv3d: input (1, 4, 3, 4, 4) has 4 channels but weight (2, 3, 2, 2, 2) expects 3"),
        (lambda: F.conv3d(x, cr.zeros((2, 2, 2, 2, 2)), groups=3),
         "conv3d: input channels 4 of input (1, 4, 3, 4, 4) are not divisible by groups=3"),
        (lambda: F.conv3d(x, cr.zeros((3, 2, 2, 2, 2)), groups=2),
         "conv3d: output channels 3 of weight (3, 2, 2, 2, 2) are not divisible by groups=2"),
        (lambda: F.conv3d(x, w, cr.zeros(3)), "conv3d: bias shape (3,) does not match"),
        (lambda: F.conv3d(x, cr.zeros((2, 4, 4, 2, 2))), "give an empty output (0, 3, 3)"),
        (lambda: F.max_pool3d(cr.zeros((2, 3, 3)), 2),
         "max_pool3d: expected input (N, C, D, H, W) (5-D, or 4-D unbatched), got shape"),
        (lambda: F.avg_pool3d(x, (4, 2, 2)), "avg_pool3d: input (1, 4, 3, 4, 4) with kernel"),
        (lambda: F.adaptive_avg_pool3d(cr.zeros((2, 3)), 1), "adaptive_avg_pool3d: expected"),
        (lambda: F.dropout3d(cr.zeros((2, 3, 4)), 0.5),
         "dropout3d: expected input (N, C, D, H, W) or unbatched (C, D, H, W), got shape"),
    ]  # fmt: skip
    for call, message in shape_errors:
        with pytest.raises(cr.ShapeError, match=re.escape(message)):
            call()
    argument_errors = [
        (lambda: F.conv3d(x, w, groups=0), "conv3d: groups must be a positive int, got 0"),
        (lambda: F.conv3d(x, w, padding="full"), "conv3d: padding must be an int, 3 ints"),
        (lambda: F.conv3d(x, w, stride=2, padding="same"), "conv3d: padding='same' needs"),
        (lambda: F.conv3d(x, w, stride=0), "conv3d: stride must be >= 1"),
        (lambda: F.max_pool3d(x, 2, padding=(2, 0, 0)), "max_pool3d: padding (2, 0, 0) must be"),
        (lambda: F.avg_pool3d(x, 2, divisor_override=0), "avg_pool3d: divisor_override must"),
        (lambda: F.adaptive_avg_pool3d(x, (1, 2)), "adaptive_avg_pool3d: output_size must"),
        (lambda: cr.nn.Conv3d(4, 3, 2, groups=2), "Conv3d: in_channels 4 and out_channels 3"),
        (lambda: cr.nn.AdaptiveAvgPool3d(0), "AdaptiveAvgPool3d: output_size must"),
    ]  # fmt: skip
    for call, message in argument_errors:
        with pytest.raises(cr.nn.functional.ArgumentError, match=re.escape(message)):
            call()


def test_max_pool3d_gradient_goes_to_the_first_maximum_in_dhw_order() -> None:
    # every value equal: PyTorch gives each window's gradient to its (d, h, w)-first element
    x = cr.tensor(np.ones((1, 1, 4, 4, 4)), requires_grad=True)
    cr.nn.functional.max_pool3d(x, 2, stride=2).sum().backward()
    expected = np.zeros((4, 4, 4))
    expected[::2, ::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)
    # the maximum shared by two depth slices: the first slice's copy gets the gradient
    data = np.zeros((1, 1, 2, 2, 2))
    data[0, 0, 0, 1, 1] = data[0, 0, 1, 0, 0] = 5.0
    x = cr.tensor(data, requires_grad=True)
    cr.nn.functional.max_pool3d(x, 2).sum().backward()
    expected = np.zeros((1, 1, 2, 2, 2))
    expected[0, 0, 0, 1, 1] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


_POOL3D_INDEX_CASES = [
    ((2, 3, 5, 6, 7), {"kernel_size": 2}),
    ((2, 3, 5, 6, 7), {"kernel_size": (3, 2, 3), "stride": 2, "padding": (1, 0, 1),
                       "ceil_mode": True}),
    ((3, 6, 5, 4), {"kernel_size": 2, "stride": 1, "dilation": (2, 1, 1)}),
    ((1, 2, 4, 4, 4), {"kernel_size": 2, "stride": 1}),
]  # fmt: skip


def _pool3d_input(shape: tuple, ties: bool) -> np.ndarray:
    x = np.random.default_rng(7).standard_normal(shape)
    return np.round(x * 2) if ties else x  # rounded: many equal values in a window


@pytest.mark.parametrize("shape, kwargs", _POOL3D_INDEX_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool3d_indices_name_the_maxima(shape: tuple, kwargs: dict, ties: bool) -> None:
    x = _pool3d_input(shape, ties)
    y, idx = cr.nn.functional.max_pool3d(cr.tensor(x), return_indices=True, **kwargs)
    assert idx.dtype == np.int64 and idx.shape == y.shape
    flat = x.reshape(x.shape[:-3] + (-1,))
    picked = np.take_along_axis(flat, idx.numpy().reshape(idx.shape[:-3] + (-1,)), axis=-1)
    np.testing.assert_array_equal(picked.reshape(y.shape), y.numpy())
    _, module_idx = cr.nn.MaxPool3d(return_indices=True, **kwargs)(cr.tensor(x))
    np.testing.assert_array_equal(module_idx.numpy(), idx.numpy())
    if "dilation" not in kwargs:  # unpooling puts each maximum back where it was
        k, st, pad = kwargs["kernel_size"], kwargs.get("stride"), kwargs.get("padding", 0)
        back = cr.nn.MaxUnpool3d(k, st, pad)(y, idx, output_size=x.shape[-3:]).numpy()
        kept = back != 0
        np.testing.assert_array_equal(back[kept], x[kept])


@pytest.mark.torch
@pytest.mark.parametrize("shape, kwargs", _POOL3D_INDEX_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool3d_indices_match_torch(shape: tuple, kwargs: dict, ties: bool) -> None:
    torch = pytest.importorskip("torch")
    x = _pool3d_input(shape, ties)
    y, idx = cr.nn.functional.max_pool3d(cr.tensor(x), return_indices=True, **kwargs)
    ty, ti = torch.nn.functional.max_pool3d(torch.from_numpy(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), ti.numpy())
    if "dilation" not in kwargs:
        k, st, pad = kwargs["kernel_size"], kwargs.get("stride"), kwargs.get("padding", 0)
        back = cr.nn.functional.max_unpool3d(y, idx, k, st, pad, output_size=x.shape[-3:])
        ref = torch.nn.functional.max_unpool3d(ty, ti, k, st, pad, output_size=x.shape[-3:])
        np.testing.assert_array_equal(back.numpy(), ref.numpy())

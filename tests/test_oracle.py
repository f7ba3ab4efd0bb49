"""Every op in the oracle table (chainrule.testing.oracle.OPS) against every generic check,
plus hypothesis property tests over random broadcastable shapes, axes and values.

Nothing here is op-specific except the lists of which table entries the property tests
draw shapes for: adding an OpInfo to OPS is enough for it to be gradchecked, forward-vs-
reverse checked, double-backward checked and compared with NumPy and torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    bool_arrays,
    broadcastable_shapes,
    matmul_shapes,
    op_sample,
    reduction_args,
    softmax_args,
)

import chainrule as cr
from chainrule.autodiff.inspect import walk_nodes
from chainrule.autograd.function import Op
from chainrule.testing import oracle
from chainrule.testing.oracle import OPS, OpInfo, Sample, get_op
from chainrule.testing.tables import all_ops


def _cases(keep: Callable[[OpInfo], bool] = lambda op: True) -> list:
    return [
        pytest.param(op, sample, id=f"{op.name}-{k}")
        for op in OPS
        if keep(op)
        for k, sample in enumerate(op.samples())
    ]


# ---- the table, case by case ------------------------------------------------------------


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.supports_gradcheck))
def test_gradcheck(op: OpInfo, sample: Sample) -> None:
    """Reverse and forward mode against central differences in float64."""
    assert oracle.check_gradcheck(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.supports_fwd))
def test_forward_vs_reverse_jacobian(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_fwd_rev(op, sample) is not None


@pytest.mark.parametrize(
    ("op", "sample"), _cases(lambda op: op.supports_double and op.supports_gradcheck)
)
def test_double_backward(op: OpInfo, sample: Sample) -> None:
    """The recorded backward (create_graph=True) against central differences of the vjp."""
    assert oracle.check_gradgrad(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.ref_fn is not None))
def test_forward_vs_numpy(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_reference(op, sample) is not None


@pytest.mark.torch
@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.torch_fn is not None))
def test_vs_torch(op: OpInfo, sample: Sample) -> None:
    """Forward values and gradients for a random cotangent against PyTorch (float64)."""
    pytest.importorskip("torch")
    assert oracle.check_torch(op, sample) is not None


# ---- the table itself -------------------------------------------------------------------

# Every op named in the design; the table entries that cover each.
DESIGN_OPS = {
    "add": ["add", "scalar_affine"], "sub": ["sub", "rsub_scalar"], "mul": ["mul"],
    "div": ["div", "rdiv_scalar"], "pow": ["pow", "pow_scalar", "rpow_scalar"], "neg": ["neg"],
    "exp": ["exp"], "log": ["log"], "sqrt": ["sqrt"], "abs": ["abs"], "sin": ["sin"],
    "cos": ["cos"], "tanh": ["tanh"], "sigmoid": ["sigmoid"], "relu": ["relu"], "clip": ["clip"],
    "maximum": ["maximum"], "minimum": ["minimum"], "where": ["where"], "sum": ["sum"],
    "mean": ["mean"], "var": ["var"], "max": ["max"], "min": ["min"],
    "logsumexp": ["logsumexp"], "softmax": ["softmax"], "log_softmax": ["log_softmax"],
    "matmul": ["matmul"], "reshape": ["reshape"], "transpose": ["transpose", "T"],
    "swapaxes": ["swapaxes"], "flatten": ["flatten"], "squeeze": ["squeeze"],
    "unsqueeze": ["unsqueeze"], "expand": ["expand"], "broadcast_to": ["broadcast_to"],
    "sum_to": ["sum_to"], "getitem": ["getitem_basic", "getitem_advanced", "getitem_mask"],
    "index_put": ["index_put"], "scatter_add": ["scatter_add"], "concatenate": ["concatenate"],
    "cat": ["cat"], "stack": ["stack"], "split": ["split"],
    "pad": ["pad_constant", "pad_edge", "pad_reflect", "pad_symmetric", "pad_wrap"],
    "astype": ["astype"], "to_device": ["to_device"],
}  # fmt: skip


def test_table_covers_every_design_op() -> None:
    names = {op.name for op in OPS}
    missing = {k: v for k, v in DESIGN_OPS.items() if not set(v) <= names}
    assert not missing


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_table_exercises_every_builtin_op_class() -> None:
    """Each Op subclass in chainrule.ops is recorded by at least one table sample, so a new
    op class without a table entry fails here."""
    classes = {
        c for c in _all_subclasses(Op)
        if c.__module__.startswith("chainrule.ops") and not c.__name__.startswith("_")
    }  # fmt: skip
    seen: set[type] = set()
    for op in all_ops():
        for sample in op.samples():
            f, xs = oracle.bind(op, sample)
            ts = [cr.tensor(x, requires_grad=True) for x in xs]
            out = f(*ts)
            for o in out if isinstance(out, (tuple, list)) else (out,):
                seen |= {node.fn for node in walk_nodes(o)}
    assert not {c.__name__ for c in classes - seen}


def test_samples_are_deterministic_and_in_domain() -> None:
    for op in OPS:
        a, b = op.samples(), op.samples()
        assert len(a) == len(b) > 0, op.name
        for s, t in zip(a, b):
            for x, y in zip(s.args, t.args):
                np.testing.assert_array_equal(x, y)
                assert isinstance(x, np.ndarray)
    assert all((s.args[0] > 0).all() for s in get_op("log").samples())
    for s in get_op("relu").samples():
        assert (np.abs(s.args[0]) >= 0.1).all()


def test_run_table_and_format() -> None:
    rows = oracle.run_table([get_op("mul"), get_op("split")])
    assert [r["op"] for r in rows] == ["mul", "split"]
    assert all(r["ok"] and r["cases"] > 0 for r in rows)
    assert rows[0]["gradcheck"] is not None and rows[0]["gradcheck"] < 1e-6
    text = oracle.format_table(rows)
    assert "gradcheck" in text and "mul" in text and "FAIL" not in text


def test_oracle_module_imports_neither_torch_nor_hypothesis() -> None:
    import subprocess
    import sys

    code = (
        "import sys, chainrule.testing.oracle; "
        "print(any(m in sys.modules for m in ('torch', 'hypothesis')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- the checks catch wrong rules ---------------------------------------------------------


def test_wrong_vjp_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import elementwise

    op, sample = get_op("sin"), get_op("sin").samples()[0]
    monkeypatch.setattr(elementwise.Sin, "backward", staticmethod(lambda ctx, g: g))
    with pytest.raises(cr.GradcheckError, match="sin"):
        oracle.check_gradcheck(op, sample)
    with pytest.raises(cr.GradcheckError, match="forward-mode vs reverse-mode"):
        oracle.check_fwd_rev(op, sample)


def test_wrong_jvp_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import elementwise

    op, sample = get_op("tanh"), get_op("tanh").samples()[0]
    monkeypatch.setattr(elementwise.Tanh, "jvp", staticmethod(lambda ctx, t: t))
    with pytest.raises(cr.GradcheckError):
        oracle.check_fwd_rev(op, sample)


def test_wrong_double_backward_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backward that is right in value but cut from the graph when recorded."""
    from chainrule.ops import elementwise

    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved
        if ctx.xp.is_graph:  # the recorded path drops d/dx of cos(x)
            return g * cr.tensor(np.cos(x.data))
        return g * np.cos(x)

    op, sample = get_op("sin"), get_op("sin").samples()[0]
    oracle.check_gradcheck(op, sample)  # first order still right
    monkeypatch.setattr(elementwise.Sin, "backward", staticmethod(backward))
    with pytest.raises(cr.GradcheckError, match="double backward"):
        oracle.check_gradgrad(op, sample)


class _Softplus(cr.Function):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * cr.sigmoid(x)

    @staticmethod
    def jvp(ctx: Any, t: Any) -> Any:
        (x,) = ctx.saved_tensors
        return t * cr.sigmoid(x)


class _BadSoftplus(_Softplus):
    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * cr.tanh(x)


def _softplus_info(fn: Callable[..., Any]) -> OpInfo:
    def torch_softplus(x: Any) -> Any:
        import torch

        return torch.nn.functional.softplus(x)

    return OpInfo(name="softplus", fn=fn, inputs=oracle.unary_inputs, torch_fn=torch_softplus,
                  ref_fn=lambda x: np.logaddexp(0, x))  # fmt: skip


def test_adding_an_opinfo_is_enough_to_test_it() -> None:
    """A user op gets every check from its table entry alone; a wrong rule fails one."""
    rows = oracle.run_table([_softplus_info(_Softplus.apply)])
    assert rows[0]["ok"], rows[0]["failures"]
    assert rows[0]["gradcheck"] is not None and rows[0]["gradgrad"] is not None
    bad = oracle.run_table([_softplus_info(_BadSoftplus.apply)], checks=["gradcheck"])
    assert not bad[0]["ok"] and "gradcheck" in bad[0]["failures"][0]


# ---- hypothesis properties ----------------------------------------------------------------

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_property(op: OpInfo, sample: Sample, out_shape: tuple | None = None) -> None:
    """Gradients shaped like their inputs, output shape as expected, values (and gradients)
    against torch when importable; forward values against NumPy always."""
    values, grads = oracle.chainrule_values_and_grads(op, sample)
    floats = [a for a in sample.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    assert [g.shape for g in grads] == [x.shape for x in floats]
    assert all(g.dtype == x.dtype for g, x in zip(grads, floats))
    assert all(np.isfinite(g).all() for g in grads)
    if out_shape is not None:
        assert values[0].shape == out_shape
    if op.ref_fn is not None:
        oracle.check_reference(op, sample)
    if oracle.torch_available() and op.torch_fn is not None:
        oracle.check_torch(op, sample)


BINARY_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
UNARY_OPS = ["neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "log2",
             "log10", "exp2", "square", "reciprocal", "rsqrt"]  # fmt: skip
KINKS = {"abs": (0.0,), "relu": (0.0,), "reciprocal": (0.0,)}
REDUCTIONS = ["sum", "mean", "var", "max", "min", "logsumexp", "prod"]


@pytest.mark.parametrize("name", BINARY_OPS)
@PROPERTY
@given(data=st.data())
def test_binary_ops_broadcast(name: str, data: st.DataObject) -> None:
    op = get_op(name)
    shapes = data.draw(broadcastable_shapes(2), label="shapes")
    sample = data.draw(op_sample(op, shapes), label="sample")
    _check_property(op, sample, np.broadcast_shapes(*shapes))


@PROPERTY
@given(data=st.data())
def test_where_broadcasts_three_ways(data: st.DataObject) -> None:
    op = get_op("where")
    c_shape, a_shape, b_shape = data.draw(broadcastable_shapes(3), label="shapes")
    ab = data.draw(op_sample(op, [a_shape, b_shape]), label="values")
    cond = data.draw(bool_arrays(c_shape), label="cond")
    sample = Sample((cond, *ab.args))
    _check_property(op, sample, np.broadcast_shapes(c_shape, a_shape, b_shape))


@pytest.mark.parametrize("name", UNARY_OPS)
@PROPERTY
@given(data=st.data())
def test_unary_ops_away_from_kinks(name: str, data: st.DataObject) -> None:
    op = get_op(name)
    (shape,) = data.draw(broadcastable_shapes(1, max_side=4), label="shape")
    sample = data.draw(op_sample(op, [shape], avoid=KINKS.get(name, ())), label="sample")
    _check_property(op, sample, shape)


@pytest.mark.parametrize("name", REDUCTIONS)
@PROPERTY
@given(data=st.data())
def test_reductions_over_random_axes(name: str, data: st.DataObject) -> None:
    op = get_op(name)
    shape, kwargs = data.draw(reduction_args(), label="shape, kwargs")
    sample = data.draw(op_sample(op, [shape], kwargs), label="sample")
    expected = np.sum(np.zeros(shape), **kwargs).shape
    _check_property(op, sample, expected)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@PROPERTY
@given(data=st.data())
def test_softmax_over_random_axis(name: str, data: st.DataObject) -> None:
    op = get_op(name)
    shape, kwargs = data.draw(softmax_args(), label="shape, kwargs")
    sample = data.draw(op_sample(op, [shape], kwargs), label="sample")
    _check_property(op, sample, shape)


@PROPERTY
@given(data=st.data())
def test_matmul_batched_and_1d(data: st.DataObject) -> None:
    op = get_op("matmul")
    shapes = data.draw(matmul_shapes(), label="shapes")
    sample = data.draw(op_sample(op, shapes), label="sample")
    _check_property(op, sample, np.matmul(np.zeros(shapes[0]), np.zeros(shapes[1])).shape)


# ---- gradient conventions at ties (points the table's domains avoid) -----------------------


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@PROPERTY
@given(data=st.data())
def test_elementwise_extreme_ties_split_evenly(name: str, data: st.DataObject) -> None:
    """At ties maximum/minimum give each input half the gradient (as torch)."""
    shapes = data.draw(broadcastable_shapes(2), label="shapes")
    out_shape = np.broadcast_shapes(*shapes)
    a = np.zeros(shapes[0])  # all ties
    b = np.zeros(shapes[1])
    _, grads = oracle.chainrule_values_and_grads(get_op(name), Sample((a, b)), [np.ones(out_shape)])
    for g, s in zip(grads, shapes):
        np.testing.assert_allclose(g, np.full(s, 0.5 * np.prod(out_shape) / np.prod(s)))
    if oracle.torch_available():
        oracle.check_torch(get_op(name), Sample((a, b)))


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_extreme_ties_go_to_first(name: str) -> None:
    x = cr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), requires_grad=True)
    getattr(cr, name)(x, axis=1).sum().backward()
    expected = {"max": [[0, 1, 0], [1, 0, 0]], "min": [[1, 0, 0], [0, 0, 1]]}[name]
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("name", ["prod", "cumprod"])
@PROPERTY
@given(data=st.data())
def test_products_exact_where_elements_are_zero(name: str, data: st.DataObject) -> None:
    """Random shapes, an axis and some elements set to exactly 0: the gradient (the product
    of the other elements, never a division) against central differences, forward mode
    and double backward -- the checks of the table, on drawn samples."""
    op = get_op(name)
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed")).standard_normal(shape)
    zeros = data.draw(st.lists(st.integers(0, x.size - 1), max_size=3), label="zeros")
    x.flat[zeros] = 0.0
    sample = Sample((x,), {"axis": axis})
    for check in (oracle.check_gradcheck, oracle.check_fwd_rev, oracle.check_gradgrad):
        check(op, sample)
    _check_property(op, sample)

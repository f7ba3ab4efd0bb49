"""Error classes and messages: every deliberate error is a ChainruleError and the builtin
that fits, and its message names the op and the shapes involved."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import norm as norm_ops

BUILTIN = {
    "ShapeError": ValueError,
    "DTypeError": TypeError,
    "GraphError": RuntimeError,
    "GradcheckError": AssertionError,
    "AnomalyError": FloatingPointError,
    "IndexingError": IndexError,
    "CheckpointError": ValueError,
    "DeviceError": RuntimeError,
}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_error_hierarchy(name):
    cls = getattr(cr, name)
    assert issubclass(cls, cr.ChainruleError)
    assert issubclass(cls, BUILTIN[name])
    with pytest.raises(BUILTIN[name]):
        raise cls("x")


def test_base_is_an_exception():
    assert issubclass(cr.ChainruleError, Exception)
    assert not issubclass(cr.ChainruleError, (ValueError, TypeError, RuntimeError))


def shape_error(fn):
    with pytest.raises(cr.ShapeError) as info:
        fn()
    assert isinstance(info.value, ValueError)
    return str(info.value)


A23 = cr.ones(2, 3)
B45 = cr.ones(4, 5)


def test_matmul_mismatch():
    msg = shape_error(lambda: A23 @ B45)
    assert "matmul" in msg and "(2, 3)" in msg and "(4, 5)" in msg
    msg = shape_error(lambda: cr.matmul(cr.ones(2, 3, 4), cr.ones(5, 4, 2)))
    assert "matmul" in msg and "(2, 3, 4)" in msg and "(5, 4, 2)" in msg
    msg = shape_error(lambda: cr.matmul(cr.ones(3), cr.ones(4)))
    assert "matmul" in msg and "(3,)" in msg and "(4,)" in msg
    msg = shape_error(lambda: cr.matmul(cr.tensor(2.0), cr.ones(2)))
    assert "matmul" in msg


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": cr.maximum,
    "minimum": cr.minimum,
    "where": lambda a, b: cr.where(cr.ones(2, 3) > 0, a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("requires_grad", [False, True])
def test_binary_broadcast_mismatch(name, requires_grad):
    a = cr.ones(2, 3, requires_grad=requires_grad)
    msg = shape_error(lambda: BINARY[name](a, B45))
    assert name in msg, msg
    assert "(2, 3)" in msg and "(4, 5)" in msg, msg


def test_broadcast_mismatch_with_numpy_array_operand():
    msg = shape_error(lambda: A23 + np.ones(4))
    assert "add" in msg and "(2, 3)" in msg and "(4,)" in msg


def test_inplace_broadcast_mismatch():
    t = cr.ones(2, 3)
    with pytest.raises(cr.ShapeError) as info:
        t += cr.ones(4, 5)
    assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value)
    t = cr.ones(3)
    with pytest.raises(cr.ShapeError):
        t += cr.ones(2, 3)  # would change t's shape


def test_reshape():
    msg = shape_error(lambda: A23.reshape(4, 2))
    assert "reshape" in msg and "(2, 3)" in msg and "(4, 2)" in msg


def test_concatenate():
    msg = shape_error(lambda: cr.concatenate([A23, B45]))
    assert "concatenate" in msg and "(2, 3)" in msg and "(4, 5)" in msg
    msg = shape_error(lambda: cr.concatenate([A23, cr.ones(2, 3, 1)], axis=0))
    assert "concatenate" in msg
    msg = shape_error(lambda: cr.cat([A23, A23], axis=2))
    assert "concatenate" in msg and "axis" in msg


def test_stack():
    msg = shape_error(lambda: cr.stack([A23, B45]))
    assert "stack" in msg and "(2, 3)" in msg and "(4, 5)" in msg
    assert "stack" in shape_error(lambda: cr.stack([]))


def test_split():
    msg = shape_error(lambda: cr.split(A23, 4, axis=1))
    assert "split" in msg and "(2, 3)" in msg
    msg = shape_error(lambda: A23.split(2, axis=3))
    assert "split" in msg and "axis" in msg


def test_squeeze():
    msg = shape_error(lambda: A23.squeeze(0))
    assert "squeeze" in msg and "(2, 3)" in msg
    assert "squeeze" in shape_error(lambda: A23.squeeze(5))


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("sum", lambda t: t.sum(axis=2)),
        ("mean", lambda t: t.mean(axis=-3)),
        ("var", lambda t: t.var(axis=(0, 2))),
        ("max", lambda t: t.max(axis=5)),
        ("min", lambda t: t.min(axis=-4)),
        ("logsumexp", lambda t: t.logsumexp(axis=2)),
        ("softmax", lambda t: t.softmax(axis=2)),
        ("log_softmax", lambda t: t.log_softmax(axis=-3)),
        ("unsqueeze", lambda t: t.unsqueeze(4)),  # the result has 3 axes: -3..2 are valid
        ("swapaxes", lambda t: cr.swapaxes(t, 0, 2)),
        ("flatten", lambda t: t.flatten(0, 2)),
        ("concatenate", lambda t: cr.concatenate([t, t], axis=-3)),
    ],
)
def test_axis_out_of_range(name, fn):
    msg = shape_error(lambda: fn(A23))
    assert name in msg and "axis" in msg, msg
    dims = "3 dimensions" if name == "unsqueeze" else "2 dimensions"
    assert dims in msg or "(2, 3)" in msg, msg


def test_other_shape_errors_name_the_op():
    assert "expand" in shape_error(lambda: A23.expand(3, 3))
    assert "transpose" in shape_error(lambda: A23.transpose(0, 0))
    assert "transpose" in shape_error(lambda: A23.transpose(0, 1, 2))
    assert "pad" in shape_error(lambda: A23.pad(((1, 1), (1, 1), (1, 1))))


@pytest.mark.parametrize(
    ("index", "bad"),
    [(5, "5"), ((0, 7), "7"), (np.array([0, 9]), "9"), ((slice(None), -4), "-4")],
)
def test_index_out_of_range(index, bad):
    with pytest.raises(cr.IndexingError) as info:
        A23[index]
    msg = str(info.value)
    assert isinstance(info.value, IndexError)
    assert "(2, 3)" in msg and bad in msg, msg


def test_index_out_of_range_with_grad_and_setitem():
    t = cr.ones(2, 3, requires_grad=True)
    with pytest.raises(cr.IndexingError, match=r"\(2, 3\)"):
        t[2]
    u = cr.ones(3)
    with pytest.raises(cr.IndexingError, match=r"\(3,\)"):
        u[3] = 1.0


def test_bad_index_type():
    with pytest.raises(cr.IndexingError):
        A23[cr.tensor([0.5, 1.0])]
    with pytest.raises(cr.IndexingError):
        A23["a"]


def test_dtype_errors():
    with pytest.raises(cr.DTypeError):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(cr.DTypeError):
        cr.tensor([1.0]).astype("not-a-dtype")
    with pytest.raises(cr.DTypeError):
        cr.tensor({"a": 1})
    with pytest.raises(cr.DTypeError, match="argument 0"):
        cr.grad(lambda t: t.sum())(cr.tensor([1, 2]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: cr.tensor(["a", "b"]),
        lambda: cr.tensor(np.array(["a", "b"])),
        lambda: cr.tensor(b"ab"),
        lambda: cr.tensor(np.array([1, None], dtype=object)),
        lambda: cr.tensor([1.0], dtype="U3"),
        lambda: cr.tensor(np.array(["2024-01-01"], dtype="datetime64[D]")),
    ],
)
def test_non_numeric_data_is_a_dtype_error(make):
    # a string tensor used to be made, and failed later deep inside NumPy
    with pytest.raises(cr.DTypeError, match="numeric"):
        make()


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda: cr.zeros(-1, 3), r"\(-1, 3\)"),
        (lambda: cr.ones((2, -2)), r"\(2, -2\)"),
        (lambda: cr.full((-1,), 0.5), r"\(-1,\)"),
        (lambda: cr.randn(3, -1), r"\(3, -1\)"),
        (lambda: cr.rand(-4), r"\(-4,\)"),
    ],
)
def test_negative_dimension_is_a_shape_error(make, shown):
    with pytest.raises(cr.ShapeError, match=shown) as info:
        make()
    assert "negative" in str(info.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cr.clip(A23), "clip: give min, max or both"),
        (lambda: cr.pad(A23, 1, mode="nope"), "pad: unknown mode"),
        (lambda: cr.pad(A23, -1), "pad: negative pad_width"),
        (lambda: norm_ops.normalize(A23, p=0), "normalize: p must be positive"),
        (
            lambda: norm_ops.batch_norm(A23, None, None, training=False),
            "batch_norm: running_mean and running_var must be given",
        ),
    ],
)
def test_bad_op_arguments_are_chainrule_errors(call, message):
    # these were plain ValueErrors: clear, but outside the ChainruleError hierarchy
    with pytest.raises(cr.ChainruleError, match=message) as info:
        call()
    assert isinstance(info.value, ValueError)

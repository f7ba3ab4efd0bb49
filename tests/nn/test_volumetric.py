"""The 3-D members of the pooling and convolution family made by composition in
chainrule.nn.functional (conv_transpose3d, adaptive_max_pool3d, lp_pool3d), their modules
and PyTorch's ``*_with_indices`` aliases: bad inputs read from the messages, indices and
tie-breaking against torch, the adjoint relation with conv3d. Values and derivatives of
every sample are checked by the oracle tables (tests/test_nn_functional.py and
tests/nn/test_module_oracle.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _raises(cases: list[tuple[Callable[[], Any], str]], error: type) -> None:
    for call, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()


# ---- conv_transpose3d / ConvTranspose3d ----------------------------------------------------


def test_conv_transpose3d_bad_inputs_name_the_function_and_the_shapes() -> None:
    x, w = cr.zeros((1, 4, 3, 4, 4)), cr.zeros((4, 2, 2, 2, 2))
    _raises([
        (lambda: F.conv_transpose3d(cr.zeros((4, 4, 4)), w),
         "conv_transpose3d: expected input (N, C_in, D, H, W) (5-D, or 4-D unbatched), got "
         "shape (4, 4, 4)"),
        (lambda: F.conv_transpose3d(x, cr.zeros((4, 2, 2, 2))),
         "conv_transpose3d: weight must be (C_in, C_out/groups, kD, kH, kW), got shape "
         "(4, 2, 2, 2)"),
        (lambda: F.conv_transpose3d(x, cr.zeros((3, 2, 2, 2, 2))),
         "conv_transpose3d: input (1, 4, 3, 4, 4) has 4 channels but weight (3, 2, 2, 2, 2) "
         "expects 3 (weight is (C_in, C_out/groups, kD, kH, kW))"),
        (lambda: F.conv_transpose3d(x, w, groups=3),
         "conv_transpose3d: input channels 4 of input (1, 4, 3, 4, 4) are not divisible by "
         "groups=3"),
        (lambda: F.conv_transpose3d(x, w, cr.zeros(3), groups=2),
         "conv_transpose3d: bias shape (3,) does not match the 4 output channels of weight "
         "(4, 2, 2, 2, 2) with groups=2"),
        (lambda: F.conv_transpose3d(x, cr.zeros((4, 2, 0, 2, 2))),
         "conv_transpose3d: weight (4, 2, 0, 2, 2) has an empty kernel (0, 2, 2)"),
        (lambda: F.conv_transpose3d(x, cr.zeros((4, 2, 1, 1, 1)), padding=(2, 0, 0)),
         "conv_transpose3d: input (1, 4, 3, 4, 4) and weight (4, 2, 1, 1, 1) (stride (1, 1, 1), "
         "padding (2, 0, 0), output_padding (0, 0, 0), dilation (1, 1, 1)) give an empty "
         "output (-1, 4, 4)"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 2)(cr.zeros((4, 4))),
         "conv_transpose3d: expected input (N, C_in, D, H, W) (5-D, or 4-D unbatched), got "
         "shape (4, 4)"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 2)(x, output_size=(9, 9, 9)),
         "ConvTranspose3d: output_size (9, 9, 9) is not reachable from input (1, 4, 3, 4, 4): "
         "valid sizes range from (4, 5, 5) to (4, 5, 5)"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 2)(x, output_size=(4, 5)),
         "ConvTranspose3d: output_size must have 3 or 5 elements for input (1, 4, 3, 4, 4)"),
    ], cr.ShapeError)  # fmt: skip
    _raises([
        (lambda: F.conv_transpose3d(x, w, groups=0),
         "conv_transpose3d: groups must be a positive int, got 0"),
        (lambda: F.conv_transpose3d(x, w, padding="same"),
         "conv_transpose3d: padding must be an int or 3 ints, got 'same'"),
        (lambda: F.conv_transpose3d(x, w, stride=2, output_padding=2),
         "conv_transpose3d: output_padding (2, 2, 2) must be smaller than either stride "
         "(2, 2, 2) or dilation (1, 1, 1)"),
        (lambda: F.conv_transpose3d(x, w, stride=(2, 1, 1), dilation=(1, 3, 1),
                                    output_padding=(1, 2, 1)),
         "conv_transpose3d: output_padding (1, 2, 1) must be smaller than either stride "
         "(2, 1, 1) or dilation (1, 3, 1)"),
        (lambda: F.conv_transpose3d(x, w, stride=0), "conv_transpose3d: stride must be >= 1"),
        (lambda: F.conv_transpose3d(x, w, padding=-1), "conv_transpose3d: padding must be >= 0"),
        (lambda: F.conv_transpose3d(x, w, dilation=(1, 2)),
         "conv_transpose3d: dilation must be an int or 3 ints, got (1, 2)"),
        (lambda: cr.nn.ConvTranspose3d(4, 3, 2, groups=2),
         "ConvTranspose3d: in_channels 4 and out_channels 3 must both be divisible by groups=2"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 2, stride=(1, 2, 1), output_padding=(0, 2, 0)),
         "ConvTranspose3d: output_padding (0, 2, 0) must be smaller than either stride "
         "(1, 2, 1) or dilation (1, 1, 1)"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 2, padding="same"),
         "ConvTranspose3d: padding must be an int or 3 ints, got 'same'"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 2, padding_mode="reflect"),
         "ConvTranspose3d: only padding_mode='zeros' is supported"),
        (lambda: cr.nn.ConvTranspose3d(4, 2, 0), "ConvTranspose3d: kernel_size must be >= 1"),
    ], F.ArgumentError)  # fmt: skip


def test_conv_transpose3d_is_the_input_gradient_of_conv3d() -> None:
    """conv_transpose3d(g, w) is d/dx <conv3d(x, w), g> (the output padding restores the
    rows a strided conv3d dropped)."""
    rng = _rng(3)
    x, w = rng.standard_normal((2, 4, 5, 6, 5)), rng.standard_normal((6, 2, 2, 3, 2))
    kw = {"stride": (2, 1, 2), "padding": (1, 1, 0), "dilation": (1, 2, 1), "groups": 2}
    xt = cr.tensor(x, requires_grad=True)
    y = F.conv3d(xt, w, **kw)
    g = rng.standard_normal(y.shape)
    (y * cr.tensor(g)).sum().backward()
    back = F.conv_transpose3d(g, w, output_padding=(1, 0, 1), **kw)
    assert back.shape == x.shape
    np.testing.assert_allclose(back.numpy(), xt.grad.numpy(), **TOL)


@pytest.mark.torch
def test_conv_transpose3d_module_output_size_repr_and_init_match_torch() -> None:
    torch = pytest.importorskip("torch")
    args, kw = (4, 6, (3, 2, 2)), {"stride": (2, 1, 2), "padding": 1, "groups": 2,
                                    "dilation": (1, 2, 1)}  # fmt: skip
    ours, theirs = cr.nn.ConvTranspose3d(*args, **kw).double(), torch.nn.ConvTranspose3d(
        *args, **kw).double()  # fmt: skip
    assert ours.weight.shape == tuple(theirs.weight.shape) == (4, 3, 3, 2, 2)
    assert ours.extra_repr() == theirs.extra_repr()
    one = {"stride": 2, "output_padding": (1, 0, 1), "bias": False}
    assert cr.nn.ConvTranspose3d(2, 3, 3, **one).extra_repr() == (
        torch.nn.ConvTranspose3d(2, 3, 3, **one).extra_repr()
    )
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = _rng().standard_normal((2, 4, 3, 4, 3))
    for size in [None, (5, 4, 4), (6, 4, 5), (2, 6, 6, 4, 4), [5, 4, 5]]:
        want = theirs(torch.tensor(x), output_size=size).detach().numpy()
        np.testing.assert_allclose(ours(x, output_size=size).numpy(), want, **TOL)
    # unbatched, and PyTorch's default initialisation (fan_in = C_out/groups * kD * kH * kW)
    assert ours(x[0]).shape == (6, 5, 4, 4)
    np.testing.assert_allclose(ours(x[0]).numpy(), ours(x[:1]).numpy()[0], **TOL)
    fresh = cr.nn.ConvTranspose3d(4, 6, (3, 2, 2), groups=2)
    assert fresh.weight.dtype == np.float32 and fresh.bias.shape == (6,)
    bound = 1 / np.sqrt(3 * 3 * 2 * 2)
    assert np.abs(fresh.bias.numpy()).max() <= bound
    assert np.abs(fresh.weight.numpy()).max() <= bound
    assert np.abs(fresh.weight.numpy()).max() > 0.8 * bound  # uniform over the whole range


@pytest.mark.torch
def test_conv_transpose3d_output_padding_below_the_dilation_matches_torch() -> None:
    """PyTorch allows output_padding smaller than either the stride or the dilation; the
    rows past the windows' reach are zero (plus the bias)."""
    torch = pytest.importorskip("torch")
    rng = _rng(5)
    x, w, b = rng.standard_normal((1, 2, 2, 3, 2)), rng.standard_normal((2, 3, 2, 2, 2)), (
        rng.standard_normal(3))  # fmt: skip
    kw = {"dilation": (3, 1, 2), "output_padding": (2, 0, 1)}
    y = F.conv_transpose3d(x, w, b, **kw)
    want = torch.nn.functional.conv_transpose3d(*map(torch.tensor, (x, w, b)), **kw)
    np.testing.assert_allclose(y.numpy(), want.numpy(), **TOL)


# ---- adaptive_max_pool3d / AdaptiveMaxPool3d -----------------------------------------------

_ADAPTIVE_MAX_CASES = [
    ((2, 3, 6, 4, 8), 2),  # windows that tile the input
    ((2, 3, 5, 7, 6), (2, 3, 4)),  # overlapping windows
    ((2, 3, 5, 7, 6), (3, None, 5)),
    ((3, 3, 2, 5), (5, 4, 2)),  # unbatched; D and H upsampled
    ((1, 2, 4, 4, 4), 1),  # global
]


def _adaptive_input(shape: tuple, ties: bool) -> np.ndarray:
    x = _rng(7).standard_normal(shape)
    return np.round(x) if ties else x  # rounded: many equal values in a window


@pytest.mark.parametrize("shape, output_size", _ADAPTIVE_MAX_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_adaptive_max_pool3d_indices_name_the_maxima(shape: tuple, output_size: Any,
                                                     ties: bool) -> None:  # fmt: skip
    x = _adaptive_input(shape, ties)
    y, idx = F.adaptive_max_pool3d(cr.tensor(x), output_size, return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape and not idx.requires_grad
    flat = x.reshape(x.shape[:-3] + (-1,))
    picked = np.take_along_axis(flat, idx.numpy().reshape(idx.shape[:-3] + (-1,)), axis=-1)
    np.testing.assert_array_equal(picked.reshape(y.shape), y.numpy())
    # the module, and the values alone, agree with the functional form
    _, midx = cr.nn.AdaptiveMaxPool3d(output_size, return_indices=True)(cr.tensor(x))
    np.testing.assert_array_equal(midx.numpy(), idx.numpy())
    np.testing.assert_array_equal(cr.nn.AdaptiveMaxPool3d(output_size)(x).numpy(), y.numpy())
    # the gradient of each window reaches exactly the element its index names
    xt = cr.tensor(x, requires_grad=True)
    F.adaptive_max_pool3d(xt, output_size).sum().backward()
    rows = flat.reshape(-1, flat.shape[-1])
    counts = np.zeros(rows.shape)
    for r, where in enumerate(idx.numpy().reshape(rows.shape[0], -1)):
        np.add.at(counts[r], where, 1.0)
    np.testing.assert_array_equal(xt.grad.numpy().reshape(counts.shape), counts)


@pytest.mark.torch
@pytest.mark.parametrize("shape, output_size", _ADAPTIVE_MAX_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_adaptive_max_pool3d_indices_and_gradients_match_torch(shape: tuple, output_size: Any,
                                                               ties: bool) -> None:  # fmt: skip
    torch = pytest.importorskip("torch")
    x = _adaptive_input(shape, ties)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, idx = F.adaptive_max_pool3d(xc, output_size, return_indices=True)
    ty, tidx = torch.nn.functional.adaptive_max_pool3d(xt, output_size, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = _rng(1).standard_normal(y.shape)
    (y * cr.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-12)


def test_adaptive_max_pool3d_gradient_goes_to_the_first_maximum_in_dhw_order() -> None:
    # every value equal: each window's gradient goes to its (d, h, w)-first element
    x = cr.tensor(np.ones((1, 1, 4, 4, 4)), requires_grad=True)
    F.adaptive_max_pool3d(x, 2).sum().backward()
    expected = np.zeros((4, 4, 4))
    expected[::2, ::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)
    # the maximum in two depth slices, later in (h, w) in the first: the first slice wins
    data = np.zeros((1, 1, 2, 3, 3))
    data[0, 0, 0, 2, 2] = data[0, 0, 1, 0, 0] = 5.0
    x = cr.tensor(data, requires_grad=True)
    y, idx = F.adaptive_max_pool3d(x, 1, return_indices=True)
    y.sum().backward()
    assert idx.item() == 8  # (0 * 3 + 2) * 3 + 2
    expected = np.zeros_like(data)
    expected[0, 0, 0, 2, 2] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_adaptive_max_pool3d_bad_inputs_name_the_problem() -> None:
    x = cr.zeros((1, 2, 3, 4, 4))
    _raises([
        (lambda: F.adaptive_max_pool3d(cr.zeros((2, 3)), 1),
         "adaptive_max_pool3d: expected input (N, C, D, H, W) (5-D, or 4-D unbatched), got "
         "shape (2, 3)"),
        (lambda: F.adaptive_max_pool3d(cr.zeros((1, 2, 0, 4, 4)), 1),
         "adaptive_max_pool3d: empty input (1, 2, 0, 4, 4)"),
        (lambda: cr.nn.AdaptiveMaxPool3d(2)(cr.zeros((1, 2, 3, 4, 4, 1))),
         "adaptive_max_pool3d: expected input (N, C, D, H, W) (5-D, or 4-D unbatched), got "
         "shape (1, 2, 3, 4, 4, 1)"),
    ], cr.ShapeError)  # fmt: skip
    message = ("adaptive_max_pool3d: output_size must be an int >= 1 or 3 of them (None keeps "
               "that size), got ")  # fmt: skip
    _raises([
        (lambda: F.adaptive_max_pool3d(x, (1, 2)), message + "(1, 2)"),
        (lambda: F.adaptive_max_pool3d(x, 0), message + "0"),
        (lambda: F.adaptive_max_pool3d(x, (2, -1, None)), message + "(2, -1, None)"),
        (lambda: F.adaptive_max_pool3d(x, 2.5), message + "2.5"),
        (lambda: cr.nn.AdaptiveMaxPool3d((1, 2, 3, 4)),
         "AdaptiveMaxPool3d: output_size must be an int >= 1 or 3 of them"),
    ], F.ArgumentError)  # fmt: skip


def test_adaptive_max_pool3d_module_repr_and_unpool_round_trip() -> None:
    m = cr.nn.AdaptiveMaxPool3d((2, None, 3), return_indices=True)
    assert repr(m).startswith("AdaptiveMaxPool3d(output_size=(2, None, 3))")
    # windows that tile the input are those of MaxPool3d: MaxUnpool3d puts the maxima back
    x = _rng(2).standard_normal((1, 2, 4, 6, 6))
    y, idx = cr.nn.AdaptiveMaxPool3d(2, return_indices=True)(cr.tensor(x))
    py, pidx = F.max_pool3d(cr.tensor(x), (2, 3, 3), return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), pidx.numpy())
    np.testing.assert_array_equal(y.numpy(), py.numpy())
    back = F.max_unpool3d(y, idx, (2, 3, 3)).numpy()
    kept = back != 0
    assert kept.sum() == y.numpy().size
    np.testing.assert_array_equal(back[kept], x[kept])


# ---- lp_pool3d / LPPool3d ------------------------------------------------------------------


def test_lp_pool3d_bad_inputs_name_the_problem() -> None:
    x = cr.ones((1, 4, 3, 4, 4))
    _raises([
        (lambda: F.lp_pool3d(cr.ones((2, 3, 4)), 2, 2),
         "lp_pool3d: expected input (N, C, D, H, W) (5-D, or 4-D unbatched), got shape "
         "(2, 3, 4)"),
        (lambda: F.lp_pool3d(x, 2, (4, 2, 2)),
         "lp_pool3d: input (1, 4, 3, 4, 4) with kernel (4, 2, 2), stride (4, 2, 2), padding "
         "(0, 0, 0) and dilation (1, 1, 1) gives output size (0, 2, 2), below 1"),
        (lambda: cr.nn.LPPool3d(2, 2)(cr.ones((4, 4))),
         "lp_pool3d: expected input (N, C, D, H, W) (5-D, or 4-D unbatched), got shape (4, 4)"),
    ], cr.ShapeError)  # fmt: skip
    _raises([
        (lambda: F.lp_pool3d(x, 0, 2), "lp_pool3d: norm_type must be a finite number > 0, got 0"),
        (lambda: F.lp_pool3d(x, float("inf"), 2), "lp_pool3d: norm_type must be a finite"),
        (lambda: F.lp_pool3d(x, 2, (2, 2)),
         "lp_pool3d: kernel_size must be an int or 3 ints, got (2, 2)"),
        (lambda: F.lp_pool3d(x, 2, 2, stride=0), "lp_pool3d: stride must be >= 1"),
        (lambda: cr.nn.LPPool3d(0, 2), "LPPool3d: norm_type must be a finite number > 0"),
        (lambda: cr.nn.LPPool3d(2, 0), "LPPool3d: kernel_size must be >= 1"),
        (lambda: cr.nn.LPPool3d(2, 2, stride=(1, 1)),
         "LPPool3d: stride must be an int or 3 ints, got (1, 1)"),
    ], F.ArgumentError)  # fmt: skip


def test_lp_pool3d_is_the_p_norm_of_each_window() -> None:
    x = np.abs(_rng(4).standard_normal((2, 3, 4, 4, 6))) + 0.1
    y = cr.nn.LPPool3d(3, (2, 2, 3))(cr.tensor(x)).numpy()
    windows = x.reshape(2, 3, 2, 2, 2, 2, 2, 3)
    np.testing.assert_allclose(y, (windows**3).sum(axis=(3, 5, 7)) ** (1 / 3), **TOL)
    assert repr(cr.nn.LPPool3d(2, 2)) == "LPPool3d(norm_type=2, kernel_size=2, stride=None, " \
        "ceil_mode=False)"  # fmt: skip


# ---- PyTorch's *_with_indices aliases ------------------------------------------------------

_ALIASES = [
    ("max_pool1d_with_indices", (2, 3, 9), (3,), {"stride": 2, "padding": 1}),
    ("max_pool2d_with_indices", (2, 3, 7, 8), (3,), {"stride": 2, "ceil_mode": True}),
    ("max_pool3d_with_indices", (1, 2, 5, 6, 7), ((3, 2, 3),), {"stride": 2, "padding": 1}),
    ("adaptive_max_pool1d_with_indices", (2, 3, 7), (3,), {}),
    ("adaptive_max_pool2d_with_indices", (2, 3, 7, 5), ((3, 2),), {}),
    ("adaptive_max_pool3d_with_indices", (2, 3, 5, 7, 6), ((2, 3, None),), {}),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, shape, args, kwargs", _ALIASES)
def test_with_indices_aliases_match_torch(name: str, shape: tuple, args: tuple,
                                          kwargs: dict) -> None:  # fmt: skip
    torch = pytest.importorskip("torch")
    x = np.round(_rng(6).standard_normal(shape) * 2)  # ties too
    y, idx = getattr(F, name)(cr.tensor(x), *args, **kwargs)
    ty, tidx = getattr(torch.nn.functional, name)(torch.tensor(x), *args, **kwargs)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert idx.dtype == np.int64
    # the pool itself with return_indices=True; the alias's own flag is ignored, as torch's
    base = getattr(F, name.removesuffix("_with_indices"))
    by, bidx = base(cr.tensor(x), *args, **kwargs, return_indices=True)
    np.testing.assert_array_equal(by.numpy(), y.numpy())
    np.testing.assert_array_equal(bidx.numpy(), idx.numpy())
    again = getattr(F, name)(cr.tensor(x), *args, **kwargs, return_indices=False)
    assert isinstance(again, tuple) and len(again) == 2

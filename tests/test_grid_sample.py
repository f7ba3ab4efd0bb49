"""``affine_grid`` and ``grid_sample`` (chainrule/ops/grid.py): values and gradients in
the input and the grid against PyTorch for every mode, padding mode and ``align_corners``
(grid points inside and outside ``[-1, 1]``, and exactly on pixel centres and edges);
without torch, float64 gradchecks, forward vs reverse mode, identity and shift checks and
the argument errors."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops.grid import affine_grid, grid_sample
from chainrule.ops.nn import ArgumentError

MODES_2D = ("bilinear", "nearest", "bicubic")
PADDINGS = ("zeros", "border", "reflection")
ALIGN = (False, True)
TOL = 1e-10


def _on_lattice(rng: np.random.Generator, shape: tuple, sizes: tuple, align: bool) -> np.ndarray:
    """Grid points exactly on pixel centres and half-way between them (pixel edges), some
    beyond the borders; ``sizes`` per coordinate (x first). The values are dyadic, so the
    unnormalised positions are exact whole and half numbers."""
    g = np.empty(shape)
    for i, n in enumerate(sizes):
        if align and n > 1:  # position = (g + 1) * (n - 1) / 2; steps of 1/2 pixel
            k = rng.integers(-2 * n, 4 * n, shape[:-1])
            g[..., i] = k / (n - 1) - 1.0
        else:  # position = (g + 1) * n / 2 - 0.5
            k = rng.integers(-3 * n, 5 * n + 1, shape[:-1])
            g[..., i] = (k + 1) / n - 1.0
    return g


def _samples(rng: np.random.Generator, x_shape: tuple, align: bool) -> list[tuple]:
    """(input, grid) pairs: random points in [-1.6, 1.6], far out (+-4), on the lattice,
    and a 1-pixel-wide input."""
    n, c, *spatial = x_shape
    out = (2, 3, 4)[-len(spatial) :] if len(spatial) == 3 else (3, 4)
    gshape = (n, *out, len(spatial))
    sizes = tuple(spatial[::-1])
    one = (n, c) + (1,) * (len(spatial) - 1) + (2,)
    return [
        (rng.standard_normal(x_shape), rng.uniform(-1.6, 1.6, gshape)),
        (rng.standard_normal(x_shape), rng.uniform(-4.0, 4.0, gshape)),
        (rng.standard_normal(x_shape), _on_lattice(rng, gshape, sizes, align)),
        (rng.standard_normal(one), rng.uniform(-1.5, 1.5, gshape)),
    ]


def _cr_sample(x: np.ndarray, g: np.ndarray, u: np.ndarray, **kw: Any) -> tuple:
    cx, cg = cr.Tensor(x, requires_grad=True), cr.Tensor(g, requires_grad=True)
    out = grid_sample(cx, cg, **kw)
    (out * u).sum().backward()
    gg = np.zeros_like(g) if cg.grad is None else cg.grad.numpy()
    return out.numpy(), cx.grad.numpy(), gg


def _torch_sample(torch: Any, x: np.ndarray, g: np.ndarray, u: np.ndarray, **kw: Any) -> tuple:
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(g, requires_grad=True)
    out = torch.nn.functional.grid_sample(tx, tg, **kw)
    out.backward(torch.tensor(u))
    return out.detach().numpy(), tx.grad.numpy(), tg.grad.numpy()


def _compare(torch: Any, x: np.ndarray, g: np.ndarray, rng: np.random.Generator,
             **kw: Any) -> None:  # fmt: skip
    shape = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(g), **kw).shape
    u = rng.standard_normal(tuple(shape))
    got = _cr_sample(x, g, u, **kw)
    want = _torch_sample(torch, x, g, u, **kw)
    for name, a, b in zip(("value", "input grad", "grid grad"), got, want):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"{name} {kw}")


# ---- against PyTorch ------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(
    ("mode", "padding_mode", "align_corners"), list(itertools.product(MODES_2D, PADDINGS, ALIGN))
)
def test_grid_sample_2d_matches_torch(mode: str, padding_mode: str, align_corners: bool) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng([MODES_2D.index(mode), PADDINGS.index(padding_mode), align_corners])
    for x, g in _samples(rng, (2, 3, 4, 5), align_corners):
        _compare(torch, x, g, rng, mode=mode, padding_mode=padding_mode,
                 align_corners=align_corners)  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize(
    ("mode", "padding_mode", "align_corners"),
    list(itertools.product(("bilinear", "nearest"), PADDINGS, ALIGN)),
)
def test_grid_sample_3d_matches_torch(mode: str, padding_mode: str, align_corners: bool) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng([7, mode == "nearest", PADDINGS.index(padding_mode), align_corners])
    for x, g in _samples(rng, (2, 2, 3, 4, 5), align_corners):
        _compare(torch, x, g, rng, mode=mode, padding_mode=padding_mode,
                 align_corners=align_corners)  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize("mode", MODES_2D)
def test_grid_sample_float32_and_non_finite_grid_match_torch(mode: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    g = rng.uniform(-1.3, 1.3, (1, 3, 4, 2)).astype(np.float32)
    for pad in PADDINGS:
        got = grid_sample(x, g, mode=mode, padding_mode=pad)
        want = F.grid_sample(torch.tensor(x), torch.tensor(g), mode=mode, padding_mode=pad,
                             align_corners=False)  # fmt: skip
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    # NaN, +-inf and huge coordinates: read as PyTorch reads them (NaN out for zeros
    # padding, clipped or reflected to a border pixel otherwise), no bad index
    bad = np.array([[[[np.nan, 0.2], [np.inf, 0.1], [1e30, -1e30], [-np.inf, 0.3]]]])
    x64 = x.astype(np.float64)
    for pad in PADDINGS:
        with np.errstate(invalid="ignore"):
            got = grid_sample(x64, bad, mode=mode, padding_mode=pad).numpy()
        want = F.grid_sample(torch.tensor(x64), torch.tensor(bad), mode=mode, padding_mode=pad,
                             align_corners=False).numpy()  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, equal_nan=True, err_msg=pad)


@pytest.mark.torch
@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize(
    ("size", "theta_shape"),
    [((2, 3, 4, 5), (2, 2, 3)), ((1, 1, 1, 3), (1, 2, 3)), ((2, 3, 2, 3, 4), (2, 3, 4)),
     ((1, 2, 1, 3, 1), (1, 3, 4))],
)  # fmt: skip
def test_affine_grid_matches_torch(size: tuple, theta_shape: tuple, align_corners: bool) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(size) + align_corners)
    theta = rng.standard_normal(theta_shape)
    tt = torch.tensor(theta, requires_grad=True)
    with pytest.warns(UserWarning) if align_corners and 1 in size[2:] else contextlib.nullcontext():
        want = torch.nn.functional.affine_grid(tt, list(size), align_corners=align_corners)
    u = rng.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(u))
    ct = cr.Tensor(theta, requires_grad=True)
    got = affine_grid(ct, size, align_corners=align_corners)
    (got * u).sum().backward()
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ct.grad.numpy(), tt.grad.numpy(), rtol=TOL, atol=TOL)


@pytest.mark.torch
def test_spatial_transformer_gradient_in_theta_matches_torch() -> None:
    """affine_grid -> grid_sample, differentiated in theta through the grid."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 5, 6))
    theta = np.array([[[0.9, -0.2, 0.1], [0.3, 1.1, -0.2]], [[1.2, 0.1, 0.3], [-0.1, 0.8, 0.05]]])
    for mode, pad in [("bilinear", "zeros"), ("bicubic", "reflection"), ("bilinear", "border")]:
        tt, tx = torch.tensor(theta, requires_grad=True), torch.tensor(x, requires_grad=True)
        want = F.grid_sample(tx, F.affine_grid(tt, [2, 3, 4, 4], align_corners=False),
                             mode=mode, padding_mode=pad, align_corners=False)  # fmt: skip
        (want**2).sum().backward()
        ct, cx = cr.Tensor(theta, requires_grad=True), cr.Tensor(x, requires_grad=True)
        got = grid_sample(cx, affine_grid(ct, (2, 3, 4, 4)), mode=mode, padding_mode=pad)
        (got**2).sum().backward()
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
        np.testing.assert_allclose(ct.grad.numpy(), tt.grad.numpy(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-9)


# ---- derivatives without torch --------------------------------------------------------------


def _off_lattice(rng: np.random.Generator, shape: tuple, sizes: tuple, align: bool,
                 reach: float = 1.4) -> np.ndarray:  # fmt: skip
    """Random grid points whose pixel positions are >= 0.1 pixel from whole numbers, where
    the interpolation has kinks (and the padding's borders lie; the reflection points of
    ``align_corners=False``, at -0.5 and size - 0.5, fall where the clip is flat), so
    central differences see one smooth piece."""
    g = rng.uniform(-reach, reach, shape)
    for i, n in enumerate(sizes):
        scale = (n - 1) / 2 if align else n / 2
        pos = (g[..., i] + 1) * scale - (0 if align else 0.5)
        frac = pos - np.floor(pos)
        pos = np.floor(pos) + np.clip(frac, 0.1, 0.9)
        g[..., i] = (pos + (0 if align else 0.5)) / scale - 1
    return g


@pytest.mark.parametrize(("mode", "padding_mode"),
                         list(itertools.product(("bilinear", "bicubic"), PADDINGS)))  # fmt: skip
@pytest.mark.parametrize("align_corners", ALIGN)
def test_grid_sample_gradcheck(mode: str, padding_mode: str, align_corners: bool) -> None:
    rng = np.random.default_rng([len(mode), len(padding_mode), align_corners])
    x = cr.Tensor(rng.standard_normal((2, 2, 3, 4)))
    g = cr.Tensor(_off_lattice(rng, (2, 2, 3, 2), (4, 3), align_corners))

    def f(a: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
        return grid_sample(a, b, mode=mode, padding_mode=padding_mode,
                           align_corners=align_corners)  # fmt: skip

    assert cr.gradcheck(f, (x, g))  # reverse, forward and central differences, float64


@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_grid_sample_3d_gradcheck(padding_mode: str) -> None:
    rng = np.random.default_rng(5)
    x = cr.Tensor(rng.standard_normal((1, 2, 2, 3, 3)))
    g = cr.Tensor(_off_lattice(rng, (1, 2, 2, 1, 3), (3, 3, 2), False))
    assert cr.gradcheck(lambda a, b: grid_sample(a, b, padding_mode=padding_mode), (x, g))


@pytest.mark.parametrize("mode", ("bilinear", "bicubic"))
def test_grid_sample_gradgradcheck(mode: str) -> None:
    rng = np.random.default_rng(6)
    x = cr.Tensor(rng.standard_normal((1, 2, 3, 3)))
    g = cr.Tensor(_off_lattice(rng, (1, 2, 2, 2), (3, 3), True))
    assert cr.gradgradcheck(lambda a, b: grid_sample(a, b, mode=mode, padding_mode="reflection",
                                                     align_corners=True), (x, g))  # fmt: skip


def test_affine_grid_gradcheck() -> None:
    rng = np.random.default_rng(8)
    for theta, size in [((2, 2, 3), (2, 1, 3, 4)), ((1, 3, 4), (1, 1, 2, 2, 3))]:
        t = cr.Tensor(rng.standard_normal(theta))
        assert cr.gradcheck(lambda a, size=size: affine_grid(a, size), (t,))


@pytest.mark.parametrize(("mode", "padding_mode"),
                         [("bilinear", "zeros"), ("bilinear", "reflection"),
                          ("bicubic", "border"), ("nearest", "zeros")])  # fmt: skip
def test_forward_mode_matches_reverse(mode: str, padding_mode: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 2, 3, 3))
    g = _off_lattice(rng, (1, 2, 2, 2), (3, 3), False, reach=1.3)

    def in_input(a: cr.Tensor) -> cr.Tensor:
        return grid_sample(a, g, mode=mode, padding_mode=padding_mode)

    def in_grid(b: cr.Tensor) -> cr.Tensor:
        return grid_sample(x, b, mode=mode, padding_mode=padding_mode)

    for f, at in ((in_input, x), (in_grid, g)):
        fwd = cr.jacobian(f, cr.Tensor(at), mode="fwd").numpy()
        rev = cr.jacobian(f, cr.Tensor(at), mode="rev").numpy()
        np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)
        # nearest's output does not depend on the grid in the graph: a zero Jacobian
        assert (np.abs(fwd).max() > 0) != (f is in_grid and mode == "nearest")


# ---- identities -----------------------------------------------------------------------------

_IDENTITY_2D = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
_IDENTITY_3D = np.array([[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]])


@pytest.mark.parametrize("mode", MODES_2D)
@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_identity_grid_reproduces_the_input(mode: str, padding_mode: str) -> None:
    """Sizes 3 and 5 put the grid on dyadic pixel centres: the sample is exact."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 5, 3))
    grid = affine_grid(np.repeat(_IDENTITY_2D, 2, axis=0), x.shape, align_corners=True)
    out = grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    np.testing.assert_array_equal(out.numpy(), x)
    if mode != "bicubic":
        x3 = rng.standard_normal((1, 2, 3, 5, 3))
        grid3 = affine_grid(_IDENTITY_3D, x3.shape, align_corners=True)
        out3 = grid_sample(x3, grid3, mode=mode, padding_mode=padding_mode, align_corners=True)
        np.testing.assert_array_equal(out3.numpy(), x3)


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("mode", MODES_2D)
def test_translation_by_one_pixel_shifts_the_input(align_corners: bool, mode: str) -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2, 3, 5 if align_corners else 4))
    w = x.shape[-1]
    step = 2 / (w - 1) if align_corners else 2 / w  # one pixel, normalised (exact: 0.5)
    theta = np.array([[[1.0, 0.0, step], [0.0, 1.0, 0.0]]])  # x_in = x_out + one pixel
    grid = affine_grid(theta, x.shape, align_corners=align_corners)
    zeros = grid_sample(x, grid, mode=mode, align_corners=align_corners).numpy()
    np.testing.assert_array_equal(zeros[..., :-1], x[..., 1:])
    np.testing.assert_array_equal(zeros[..., -1], 0 * x[..., -1])
    border = grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=align_corners)
    np.testing.assert_array_equal(border.numpy()[..., :-1], x[..., 1:])
    if mode != "bicubic":  # bicubic's taps beyond the border pad too: the last column differs
        np.testing.assert_array_equal(border.numpy()[..., -1], x[..., -1])


def test_repeated_corners_accumulate_in_the_input_gradient() -> None:
    """Every output reads the centre pixel: its gradient counts them; nearest sampling
    has no grid gradient."""
    x = cr.Tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    g = cr.Tensor(np.zeros((1, 2, 4, 2)), requires_grad=True)
    out = grid_sample(x, g, mode="nearest", align_corners=True)
    out.sum().backward()
    assert out.numpy().tolist() == [[[[4.0] * 4] * 2]]
    want = np.zeros((1, 1, 3, 3))
    want[0, 0, 1, 1] = 8
    np.testing.assert_array_equal(x.grad.numpy(), want)
    assert g.grad is None


def test_empty_batch_and_empty_grid() -> None:
    assert grid_sample(np.zeros((0, 2, 3, 3)), np.zeros((0, 2, 2, 2))).shape == (0, 2, 2, 2)
    assert grid_sample(np.ones((1, 2, 3, 3)), np.zeros((1, 0, 4, 2))).shape == (1, 2, 0, 4)


# ---- errors ---------------------------------------------------------------------------------

_X = np.zeros((2, 3, 4, 5))
_G = np.zeros((2, 3, 3, 2))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: grid_sample(_X, _G, mode="cubic"), ArgumentError, "mode must be one of"),
        (lambda: grid_sample(_X, _G, padding_mode="wrap"), ArgumentError, "padding_mode must"),
        (lambda: grid_sample(np.zeros((2, 3, 4)), _G), ShapeError, "input must be 4-D"),
        (lambda: grid_sample(np.zeros((2, 3, 2, 4, 5)), np.zeros((2, 1, 3, 3, 3)),
                             mode="bicubic"), ShapeError, "bicubic.*4-D"),
        (lambda: grid_sample(_X, np.zeros((2, 3, 3, 3))), ShapeError,
         r"last axis 2.*\(2, 3, 3, 3\)"),
        (lambda: grid_sample(np.zeros((2, 3, 2, 4, 5)), np.zeros((2, 1, 3, 3, 2))), ShapeError,
         "last axis 3"),
        (lambda: grid_sample(_X, np.zeros((2, 3, 2))), ShapeError, "needs a grid"),
        (lambda: grid_sample(_X, np.zeros((1, 3, 3, 2))), ShapeError, "batch size 1"),
        (lambda: grid_sample(np.zeros((2, 3, 0, 5)), _G), ShapeError, "non-empty"),
        (lambda: grid_sample(np.zeros((2, 3, 4, 5), dtype=np.int64), _G), DTypeError,
         "input must be floating point, got dtype int64"),
        (lambda: grid_sample(_X, _G.astype(np.int64)), DTypeError, "grid must be floating"),
        (lambda: grid_sample(_X, _G.astype(np.float32)), DTypeError, "same dtype"),
        (lambda: affine_grid(np.zeros((2, 2, 3)), (2, 3, 4)), ShapeError, "length 4.*got"),
        (lambda: affine_grid(np.zeros((2, 2, 3)), (2, 3, 4, 5, 6, 7)), ShapeError, "length 6"),
        (lambda: affine_grid(np.zeros((2, 2, 3)), (2, 3, 4, 5, 6)), ShapeError,
         r"Nx3x4.*\(2, 3, 4\).*\(2, 2, 3\)"),
        (lambda: affine_grid(np.zeros((2, 3, 4)), (2, 3, 4, 5)), ShapeError, "Nx2x3"),
        (lambda: affine_grid(np.zeros((1, 2, 3)), (2, 3, 4, 5)), ShapeError, r"\(2, 2, 3\)"),
        (lambda: affine_grid(np.zeros((2, 2, 3)), (2, 3, 0, 5)), ShapeError, "positive"),
        (lambda: affine_grid(np.zeros((2, 2, 3)), 4), ArgumentError, "sequence of ints"),
        (lambda: affine_grid(np.zeros((2, 2, 3)), (2, 3, 4.0, 5)), ArgumentError, "ints"),
        (lambda: affine_grid(np.zeros((2, 2, 3), dtype=np.int64), (2, 3, 4, 5)), DTypeError,
         "theta must be floating"),
    ],
)  # fmt: skip
def test_bad_arguments(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()

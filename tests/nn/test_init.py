"""nn.init: the initialisers' statistics, in-place semantics, reproducibility and LSUV."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init

from ._helpers import ReLU


def param(*shape: int) -> nn.Parameter:
    return nn.Parameter(np.zeros(shape, dtype=np.float32))


def test_calculate_gain_matches_pytorch_table():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_in_place_no_graph_and_returns_the_tensor():
    p = param(50, 40)
    arr = p.data
    assert init.kaiming_uniform_(p) is p
    assert p.data is arr and p.is_leaf and p.requires_grad and p.dtype == np.float32
    for fn in (init.xavier_uniform_, init.xavier_normal_, init.kaiming_normal_,
               init.zeros_, init.ones_, init.orthogonal_):  # fmt: skip
        assert fn(p) is p and p.data is arr
    assert init.constant_(p, 0.5) is p and np.all(p.numpy() == 0.5)
    assert np.all(init.zeros_(p).numpy() == 0) and np.all(init.ones_(p).numpy() == 1)


def test_manual_seed_makes_draws_reproducible():
    cr.manual_seed(7)
    a = init.normal_(param(10)).numpy().copy()
    cr.manual_seed(7)
    b = init.normal_(param(10)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    cr.manual_seed(3)
    l1 = nn.Linear(5, 4)
    cr.manual_seed(3)
    l2 = nn.Linear(5, 4)
    np.testing.assert_array_equal(l1.weight.numpy(), l2.weight.numpy())


def test_uniform_and_normal_statistics():
    cr.manual_seed(0)
    u = init.uniform_(param(200, 200), -2.0, 3.0).numpy()
    assert u.min() >= -2 and u.max() <= 3
    assert u.mean() == pytest.approx(0.5, abs=0.03)
    n = init.normal_(param(200, 200), mean=1.0, std=0.5).numpy()
    assert n.mean() == pytest.approx(1.0, abs=0.01)
    assert n.std() == pytest.approx(0.5, rel=0.02)


def test_kaiming_uniform_bound_and_std():
    cr.manual_seed(0)
    w = init.kaiming_uniform_(param(300, 200), nonlinearity="relu").numpy()
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    w = init.kaiming_uniform_(param(300, 200), mode="fan_out", nonlinearity="relu").numpy()
    assert np.abs(w).max() <= math.sqrt(6 / 300)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(param(3, 3), mode="fan_avg")


def test_kaiming_normal_and_xavier_std():
    cr.manual_seed(0)
    w = init.kaiming_normal_(param(300, 20, 3, 3), nonlinearity="relu").numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / (20 * 9)), rel=0.02)  # fan_in = 20 * 3 * 3
    w = init.xavier_uniform_(param(300, 200)).numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    assert np.abs(w).max() <= math.sqrt(6 / 500)
    w = init.xavier_normal_(param(300, 200), gain=2.0).numpy()
    assert w.std() == pytest.approx(2 * math.sqrt(2 / 500), rel=0.02)
    with pytest.raises(cr.ShapeError, match="at least 2 axes"):
        init.xavier_uniform_(param(5))


def test_linear_default_init_is_pytorchs():
    cr.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound


def test_orthogonal():
    cr.manual_seed(0)
    w = init.orthogonal_(param(6, 10)).numpy().astype(np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)
    w = init.orthogonal_(param(10, 6), gain=2.0).numpy().astype(np.float64)
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(6), atol=1e-5)
    w = init.orthogonal_(param(4, 2, 3, 3)).numpy().reshape(4, -1).astype(np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-5)


def test_lsuv_gives_unit_output_variance_per_layer():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), ReLU(), nn.Linear(64, 64), ReLU(), nn.Linear(64, 5))
    x = cr.tensor(np.random.default_rng(0).standard_normal((256, 20)).astype(np.float32) * 3)
    model.train()
    assert init.lsuv_(model, x, tol=0.05) is model
    assert all(m.training for m in model.modules())  # modes restored
    variances = []
    hooks = [
        m.register_forward_hook(lambda m, a, out: variances.append(out.numpy().var()))
        for m in model
        if isinstance(m, nn.Linear)
    ]
    with cr.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert len(variances) == 3
    for v in variances:
        assert abs(v - 1) < 0.05


def test_lsuv_needs_a_layer():
    with pytest.raises(ValueError, match="no Linear or Conv"):
        init.lsuv_(nn.Sequential(ReLU()), np.zeros((2, 2), np.float32))


def test_bad_distribution_parameters_are_init_errors():
    w = cr.tensor(np.zeros(3, np.float32))
    with pytest.raises(nn.init.InitError, match="uniform_: the lower bound a=1 is above"):
        nn.init.uniform_(w, 1, 0)
    with pytest.raises(nn.init.InitError, match="normal_: std must be >= 0, got -1"):
        nn.init.normal_(w, std=-1)
    with pytest.raises(nn.init.InitError, match="got nan"):
        nn.init.normal_(w, std=float("nan"))


def _truncated_mean(mean: float, std: float, a: float, b: float) -> float:
    """The mean of N(mean, std^2) truncated to [a, b]."""
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2  # noqa: E731
    lo, hi = (a - mean) / std, (b - mean) / std
    return mean + std * (phi(lo) - phi(hi)) / (cdf(hi) - cdf(lo))


@pytest.mark.parametrize(("mean", "std", "a", "b"), [
    (0.0, 1.0, -2.0, 2.0),  # PyTorch's default: rejection of normal draws
    (1.0, 2.0, -1.0, 2.5),
    (0.0, 1.0, 3.0, 4.0),  # 0.13% of the mass, deep in a tail: the inverse CDF
    (0.0, 0.02, -2.0, 2.0),  # absolute bounds: nothing is truncated
])  # fmt: skip
def test_trunc_normal_stays_in_bounds_with_the_truncated_mean(mean, std, a, b) -> None:
    cr.manual_seed(0)
    x = nn.init.trunc_normal_(cr.zeros((100_000,)), mean, std, a, b).numpy()
    assert x.dtype == np.float32 and x.min() >= a and x.max() <= b
    spread = min(std, b - a)
    assert abs(x.mean() - _truncated_mean(mean, std, a, b)) < 5 * spread / math.sqrt(x.size)
    with pytest.raises(nn.init.InitError, match="need a < b"):
        nn.init.trunc_normal_(cr.zeros(3), a=1.0, b=1.0)
    with pytest.raises(nn.init.InitError, match="std must be > 0"):
        nn.init.trunc_normal_(cr.zeros(3), std=0.0)


@pytest.mark.torch
def test_dirac_and_eye_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for shape, groups in [((4, 2, 3, 3), 2), ((6, 3, 3), 1), ((2, 4, 3, 1, 3), 1)]:
        t = torch.zeros(shape)
        torch.nn.init.dirac_(t, groups)
        w = nn.init.dirac_(cr.zeros(shape), groups)
        np.testing.assert_array_equal(w.numpy(), t.numpy())
    for shape in [(3, 5), (4, 2)]:
        t = torch.zeros(shape)
        torch.nn.init.eye_(t)
        np.testing.assert_array_equal(nn.init.eye_(cr.zeros(shape)).numpy(), t.numpy())


def test_dirac_eye_and_sparse_shapes_and_errors() -> None:
    x = cr.tensor(np.random.default_rng(0).standard_normal((2, 3, 5)))
    conv = nn.Conv1d(3, 3, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight)
    np.testing.assert_allclose(conv(x).numpy(), x.numpy(), rtol=1e-6)  # passes through
    cr.manual_seed(1)
    w = nn.init.sparse_(cr.zeros((10, 6)), 0.3, std=0.5).numpy()
    assert ((w == 0).sum(axis=0) == 3).all()  # ceil(0.3 * 10) zeros in every column
    assert 0.3 < w[w != 0].std() < 0.7
    with pytest.raises(cr.ShapeError, match=r"dirac_ needs a 3-, 4- or 5-D tensor"):
        nn.init.dirac_(cr.zeros((3, 3)))
    with pytest.raises(nn.init.InitError, match="divides the 5 output channels, got 2"):
        nn.init.dirac_(cr.zeros((5, 2, 3)), groups=2)
    with pytest.raises(cr.ShapeError, match=r"eye_ needs a 2-D tensor, got shape \(3,\)"):
        nn.init.eye_(cr.zeros(3))
    with pytest.raises(nn.init.InitError, match=r"sparsity must be in \[0, 1\], got 1.5"):
        nn.init.sparse_(cr.zeros((3, 3)), 1.5)

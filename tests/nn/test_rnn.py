"""nn.RNN, nn.LSTM, nn.GRU: layouts and defaults, and outputs and every gradient against
the torch modules with the same weights copied across."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.inspect import walk_nodes
from chainrule.nn.rnn import GRU, LSTM, RNN

CLASSES = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _make(kind: str, *args: Any, **kwargs: Any) -> Any:
    if kind == "RNN_RELU":
        return RNN(*args, nonlinearity="relu", **kwargs)
    return CLASSES[kind](*args, **kwargs)


def test_parameter_names_shapes_and_order_match_torch_layout() -> None:
    m = LSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:8] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
        "bias_hh_l0_reverse",
    ]  # fmt: skip
    assert len(names) == 16
    assert m.weight_ih_l0.shape == (20, 3) and m.weight_hh_l0.shape == (20, 5)
    assert m.weight_ih_l1.shape == (20, 10) and m.bias_hh_l1_reverse.shape == (20,)
    g = GRU(4, 6, bias=False)
    assert [n for n, _ in g.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert g.weight_ih_l0.shape == (18, 4)
    r = RNN(4, 6, nonlinearity="relu")
    assert r.weight_hh_l0.shape == (6, 6) and r.weight_ih_l0.dtype == np.float32
    assert r.extra_repr() == "4, 6, nonlinearity='relu'"
    assert "LSTM(3, 5, num_layers=2, bidirectional=True)" in repr(m)


def test_default_init_is_uniform_in_one_over_sqrt_hidden() -> None:
    cr.manual_seed(0)
    m = LSTM(8, 16)
    bound = 1 / np.sqrt(16)
    allv = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert np.abs(allv).max() <= bound
    assert allv.min() < -0.9 * bound and allv.max() > 0.9 * bound
    assert abs(allv.mean()) < 0.02
    cr.manual_seed(0)
    again = LSTM(8, 16)
    np.testing.assert_array_equal(again.weight_hh_l0.numpy(), m.weight_hh_l0.numpy())


def test_bad_arguments_and_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="nonlinearity 'gelu'"):
        RNN(3, 4, nonlinearity="gelu")
    m = GRU(3, 4, num_layers=2)
    with pytest.raises(cr.ShapeError, match=r"input has 5 features .* input_size=3"):
        m(cr.zeros(2, 1, 5))
    with pytest.raises(cr.ShapeError, match=r"h0 must have shape \(2, 1, 4\)"):
        m(cr.zeros(2, 1, 3), cr.zeros(1, 1, 4))
    with pytest.raises(cr.ShapeError, match="expected a 3-D input"):
        m(cr.zeros(2, 1, 1, 3))
    with pytest.raises(cr.ShapeError, match=r"pair \(h0, c0\)"):
        LSTM(3, 4)(cr.zeros(2, 1, 3), cr.zeros(1, 1, 4))


def test_one_node_per_layer_and_long_sequences_backprop() -> None:
    m = LSTM(3, 4, num_layers=2)
    x = cr.tensor(np.random.default_rng(0).standard_normal((1000, 2, 3)).astype(np.float32),
                  requires_grad=True)  # fmt: skip
    out, _ = m(x)
    names = [n.name for n in walk_nodes(out)]
    assert names.count("lstm_layer") == 2
    out.mean().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert all(np.isfinite(p.grad.numpy()).all() for p in m.parameters())


def test_modular_backward_returns_input_and_state_gradients() -> None:
    rng = np.random.default_rng(1)
    m = GRU(3, 4).double()
    x = cr.tensor(rng.standard_normal((5, 2, 3)), requires_grad=True)
    h0 = cr.tensor(rng.standard_normal((1, 2, 4)), requires_grad=True)
    out, h = m(x, h0)
    g_out, g_h = rng.standard_normal(out.shape), rng.standard_normal(h.shape)
    dx, dh0 = m.backward((g_out, g_h))
    _, vjp_fn = cr.vjp(lambda x, h0: m(x, h0), x, h0)
    m.zero_grad()
    want = vjp_fn((cr.tensor(g_out), cr.tensor(g_h)))
    np.testing.assert_allclose(dx.numpy(), want[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(dh0.numpy(), want[1].numpy(), rtol=1e-12)


def test_dropout_between_layers_only_in_training() -> None:
    m = RNN(3, 4, num_layers=2, dropout=0.5).double()
    x = cr.tensor(np.random.default_rng(2).standard_normal((4, 2, 3)))
    m.eval()
    a = m(x)[0].numpy()
    b = m(x)[0].numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    cr.manual_seed(0)
    c = m(x)[0].numpy()
    assert not np.allclose(a, c)


# ---- against torch ----------------------------------------------------------------------------

CONFIGS = [
    {},
    {"num_layers": 2},
    {"batch_first": True, "num_layers": 2},
    {"bias": False},
    {"bidirectional": True, "num_layers": 2},
]


def _torch_module(torch: Any, kind: str, m: Any, kwargs: dict) -> Any:
    cls = {"RNN": torch.nn.RNN, "RNN_RELU": torch.nn.RNN, "LSTM": torch.nn.LSTM,
           "GRU": torch.nn.GRU}[kind]  # fmt: skip
    extra = {"nonlinearity": "relu"} if kind == "RNN_RELU" else {}
    tm = cls(m.input_size, m.hidden_size, **kwargs, **extra).double()
    with torch.no_grad():
        for name, p in tm.named_parameters():
            p.copy_(torch.from_numpy(getattr(m, name).numpy()))
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in m.named_parameters()]
    return tm


def _leaves(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in _leaves(o)]
    return [out]


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["RNN", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("config", range(len(CONFIGS)))
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_torch_module(kind: str, config: int, with_state: bool) -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    cr.manual_seed(config)
    m = _make(kind, 3, 4, **kwargs).double()
    tm = _torch_module(torch, kind, m, kwargs)
    rng = np.random.default_rng(config)
    T, B = 5, 2
    D = 2 if kwargs.get("bidirectional") else 1
    L = kwargs.get("num_layers", 1)
    x_np = rng.standard_normal((B, T, 3) if kwargs.get("batch_first") else (T, B, 3))
    states = [rng.standard_normal((D * L, B, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    x = cr.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    hx = thx = None
    if with_state:
        hs = [cr.tensor(s, requires_grad=True) for s in states]
        ths = [torch.tensor(s, requires_grad=True) for s in states]
        hx, thx = (tuple(hs), tuple(ths)) if kind == "LSTM" else (hs[0], ths[0])
    outs = _leaves(m(x, hx))
    touts = _leaves(tm(tx, thx))
    cts = [rng.standard_normal(o.shape) for o in outs]
    sum((o * cr.tensor(c)).sum() for o, c in zip(outs, cts)).backward()
    sum((o * torch.from_numpy(c)).sum() for o, c in zip(touts, cts)).backward()
    for o, t in zip(outs, touts):
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    if with_state:
        for h, th in zip(_leaves(hx), _leaves(thx)):
            np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_unbatched_and_float32_match_torch(kind: str) -> None:
    torch = pytest.importorskip("torch")
    m = _make(kind, 3, 4, num_layers=2)
    tm = _torch_module(torch, kind, m, {"num_layers": 2}).float()
    x_np = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    out = _leaves(m(cr.tensor(x_np)))
    tout = _leaves(tm(torch.from_numpy(x_np)))
    assert out[0].shape == (6, 4) and out[1].shape == (2, 4)
    for o, t in zip(out, tout):
        assert o.dtype == np.float32
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_state_dict_loads_into_torch() -> None:
    torch = pytest.importorskip("torch")
    m = LSTM(3, 4, num_layers=2)
    tm = torch.nn.LSTM(3, 4, num_layers=2)
    tm.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((3, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(m(cr.tensor(x))[0].numpy(),
                               tm(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-5,
                               atol=1e-6)  # fmt: skip

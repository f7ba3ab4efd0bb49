"""Oracle table for the fused recurrent ops of ``chainrule.ops.rnn``.

:data:`RNN_OPS` holds :class:`~chainrule.testing.oracle.OpInfo` entries built like the core
table (:data:`chainrule.testing.oracle.OPS`), so every generic check there (gradcheck,
forward vs reverse, double backward, PyTorch, NumPy) runs over it unchanged:
``oracle.run_table(RNN_OPS)``.

Samples are small (a handful of steps, batch 1-2, hidden 2-4) so the full Jacobians stay
cheap; they cover both biases present and absent, given and absent (zero) initial states,
a single step and a batch of one. Argument order is the op's: ``(x, h0, [c0,] w_ih, w_hh,
b_ih, b_hh)``, with None for an absent state or bias (it passes to the op unchanged).

The PyTorch references are ``torch.lstm`` / ``torch.gru`` / ``torch.rnn_tanh`` /
``torch.rnn_relu``, the fused kernels behind ``torch.nn.LSTM`` / ``GRU`` / ``RNN``, called
with the same weight tensors (so weight gradients are compared directly). The NumPy
references are plain step-by-step loops. torch is imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.ops.rnn import gru_layer, lstm_layer, rnn_layer
from chainrule.testing.oracle import OpInfo, Sample

# (T, B, F, H, biases, initial states)
SHAPES = [
    (3, 2, 3, 4, True, True),
    (2, 2, 2, 3, False, True),
    (2, 1, 2, 3, True, False),
    (1, 2, 3, 2, False, False),
]


def _torch() -> Any:
    import torch

    return torch


def _r(rng: np.random.Generator, shape: tuple, scale: float = 0.6) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape) * scale, dtype=np.float64)


def _inputs(gates: int, cell: bool) -> Callable[[np.random.Generator], list[Sample]]:
    def gen(rng: np.random.Generator) -> list[Sample]:
        out = []
        for T, B, F, H, bias, states in SHAPES:
            x = _r(rng, (T, B, F), 1.0)
            h0 = _r(rng, (B, H)) if states else None
            c0 = _r(rng, (B, H)) if states else None
            w_ih, w_hh = _r(rng, (gates * H, F)), _r(rng, (gates * H, H))
            b_ih = _r(rng, (gates * H,)) if bias else None
            b_hh = _r(rng, (gates * H,)) if bias else None
            args = (x, h0, c0, w_ih, w_hh, b_ih, b_hh) if cell else (x, h0, w_ih, w_hh, b_ih, b_hh)
            note = (f"T={T} B={B} F={F} H={H} " + ("biases" if bias else "no biases")
                    + (", h0 given" if states else ", h0 zero"))  # fmt: skip
            out.append(Sample(args, note=note))
        return out

    return gen


# ---- PyTorch references: the fused kernels behind torch.nn.LSTM / GRU / RNN ---------------


def _t_state(h: Any, x: Any, H: int) -> Any:
    torch = _torch()
    if h is None:
        return torch.zeros((1, x.shape[1], H), dtype=x.dtype)
    return h[None]


def _t_params(w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> tuple[list, bool]:
    if b_ih is None and b_hh is None:
        return [w_ih, w_hh], False
    torch = _torch()
    b_ih = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype) if b_ih is None else b_ih
    b_hh = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype) if b_hh is None else b_hh
    return [w_ih, w_hh, b_ih, b_hh], True


def torch_lstm(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> tuple:
    """``torch.lstm`` (nn.LSTM's kernel) with one layer: ``(out, h_T, c_T)``."""
    H = w_hh.shape[1]
    params, has_bias = _t_params(w_ih, w_hh, b_ih, b_hh)
    hx = (_t_state(h0, x, H), _t_state(c0, x, H))
    out, h, c = _torch().lstm(x, hx, params, has_bias, 1, 0.0, False, False, False)
    return out, h[0], c[0]


def torch_gru(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> tuple:
    """``torch.gru`` (nn.GRU's kernel) with one layer: ``(out, h_T)``."""
    params, has_bias = _t_params(w_ih, w_hh, b_ih, b_hh)
    hx = _t_state(h0, x, w_hh.shape[1])
    out, h = _torch().gru(x, hx, params, has_bias, 1, 0.0, False, False, False)
    return out, h[0]


def torch_rnn(nonlinearity: str) -> Callable[..., tuple]:
    """``torch.rnn_tanh`` / ``torch.rnn_relu`` (nn.RNN's kernels) with one layer."""

    def fn(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> tuple:
        params, has_bias = _t_params(w_ih, w_hh, b_ih, b_hh)
        hx = _t_state(h0, x, w_hh.shape[1])
        kernel = getattr(_torch(), f"rnn_{nonlinearity}")
        out, h = kernel(x, hx, params, has_bias, 1, 0.0, False, False, False)
        return out, h[0]

    return fn


# ---- NumPy references: plain loops --------------------------------------------------------


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


def _np_setup(x: np.ndarray, h0: Any, w_hh: np.ndarray, b_ih: Any, b_hh: Any) -> tuple:
    B, H = x.shape[1], w_hh.shape[1]
    rows = w_hh.shape[0]
    h = np.zeros((B, H)) if h0 is None else h0
    b_ih = np.zeros(rows) if b_ih is None else b_ih
    b_hh = np.zeros(rows) if b_hh is None else b_hh
    return h, b_ih, b_hh, H


def np_lstm(x: np.ndarray, h0: Any, c0: Any, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Any,
            b_hh: Any) -> tuple:  # fmt: skip
    h, b_ih, b_hh, H = _np_setup(x, h0, w_hh, b_ih, b_hh)
    c = np.zeros_like(h) if c0 is None else c0
    outs = []
    for xt in x:
        a = xt @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs), h, c


def np_gru(x: np.ndarray, h0: Any, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Any,
           b_hh: Any) -> tuple:  # fmt: skip
    h, b_ih, b_hh, H = _np_setup(x, h0, w_hh, b_ih, b_hh)
    outs = []
    for xt in x:
        ax = xt @ w_ih.T + b_ih
        ah = h @ w_hh.T + b_hh
        r = _sigmoid(ax[:, :H] + ah[:, :H])
        z = _sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs), h


def np_rnn(nonlinearity: str) -> Callable[..., tuple]:
    def fn(x: np.ndarray, h0: Any, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Any,
           b_hh: Any) -> tuple:  # fmt: skip
        h, b_ih, b_hh, _ = _np_setup(x, h0, w_hh, b_ih, b_hh)
        outs = []
        for xt in x:
            a = xt @ w_ih.T + b_ih + h @ w_hh.T + b_hh
            h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
            outs.append(h)
        return np.stack(outs), h

    return fn


# ---- relu needs its pre-activations away from the kink -------------------------------------


def _rnn_relu(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None) -> Any:
    return rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")


def _relu_inputs(rng: np.random.Generator) -> list[Sample]:
    """The RNN samples, kept only where every pre-activation is at least 0.05 from 0 (central
    differences across relu's kink measure nothing useful); redrawn until they are."""
    gen = _inputs(1, False)
    out: list[Sample] = []
    for k in range(len(SHAPES)):
        for _ in range(200):
            s = gen(rng)[k]
            x, h0, w_ih, w_hh, b_ih, b_hh = s.args
            h = np.zeros((x.shape[1], w_hh.shape[1])) if h0 is None else h0
            pre = []
            for xt in x:
                a = xt @ w_ih.T + h @ w_hh.T
                a = a + (0 if b_ih is None else b_ih) + (0 if b_hh is None else b_hh)
                pre.append(a)
                h = np.maximum(a, 0)
            if np.abs(np.stack(pre)).min() > 0.05:
                out.append(s)
                break
    return out


RNN_OPS: list[OpInfo] = [
    OpInfo(name="lstm_layer", fn=lstm_layer, inputs=_inputs(4, True), torch_fn=torch_lstm,
           ref_fn=np_lstm),
    OpInfo(name="gru_layer", fn=gru_layer, inputs=_inputs(3, False), torch_fn=torch_gru,
           ref_fn=np_gru),
    OpInfo(name="rnn_layer_tanh", fn=rnn_layer, inputs=_inputs(1, False),
           torch_fn=torch_rnn("tanh"), ref_fn=np_rnn("tanh")),
    OpInfo(name="rnn_layer_relu", fn=_rnn_relu, inputs=_relu_inputs, torch_fn=torch_rnn("relu"),
           ref_fn=np_rnn("relu")),
]  # fmt: skip

__all__ = ["RNN_OPS", "np_gru", "np_lstm", "np_rnn", "torch_gru", "torch_lstm", "torch_rnn"]

"""Recurrent layers as fused ops: a whole sequence through one LSTM, GRU or Elman RNN layer.

One layer, one direction, time-major, with PyTorch's math, parameter layouts and gate
orders (``torch.nn.LSTM`` / ``GRU`` / ``RNN``):

* :func:`lstm_layer` ``(x, h0, c0, w_ih, w_hh, b_ih, b_hh) -> (out, h_T, c_T)``, gates
  ``(i, f, g, o)``: ``c' = f * c + i * g``, ``h' = o * tanh(c')``;
* :func:`gru_layer` ``(x, h0, w_ih, w_hh, b_ih, b_hh) -> (out, h_T)``, gates ``(r, z, n)``:
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``;
* :func:`rnn_layer` ``(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity) -> (out, h_T)``:
  ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ``relu``).

Shapes: ``x`` (T, B, F); ``h0``, ``c0``, ``h_T``, ``c_T`` (B, H); ``out`` (T, B, H), the
hidden state after every step; ``w_ih`` (G*H, F), ``w_hh`` (G*H, H), ``b_ih``, ``b_hh``
(G*H,) with G = 4 (LSTM), 3 (GRU), 1 (RNN). ``h0``/``c0`` None mean zeros, a bias None
means no bias.

How it is fast (each op is one graph node whatever the sequence length):

* the input projection of all T steps is ONE GEMM, ``x.reshape(T*B, F) @ w_ih.T``, with
  both biases added once; the recurrence is ONE GEMM per step for all gates;
* the gate nonlinearities of a step are one ``exp`` over the whole (B, G*H) gate block:
  ``sigmoid(a) = 1 / (1 + exp(-a))`` with the sign folded into copies of the weights, and
  the LSTM's tanh gate as ``tanh(a) = 2 * sigmoid(2a) - 1`` (its rows scaled by -2). NumPy's
  float32 ``exp`` is a polynomial; its ``tanh`` reads tables with gathers, which are slow on
  AMD's Zen cores (8 ns per element against 4 here; float64 35 against 10). ``exp`` may
  overflow to inf on the way, which gives the right limit (``1 / inf = 0``);
* the backward is hand-written BPTT: everything that does not depend on the recurrence
  (gate derivatives times their partner values) is computed for all steps at once before
  the loop, which is then a handful of in-place NumPy calls and one GEMM per step; the
  per-step gate gradients land in one (T, B, G*H) array, so ``dW_hh``, ``dW_ih``, ``dx``
  and the bias gradients are one GEMM (or GEMV) each after the loop;
* buffers are allocated once per call and written with ``out=``; the loops are iterative,
  so a sequence of any length backprops (memory kept for backward: the gate activations
  and states of every step, ``7 * T * B * H`` numbers for the LSTM, 5 for the GRU, 1 for
  the RNN).

Dtypes: the inputs are promoted together (NEP 50) and must be floating; every gradient
comes back in its input's dtype. The fast paths are written for NumPy arrays (CPU).

Higher derivatives: the fast backward is raw NumPy. When the backward itself is recorded
(``create_graph=True``, ``ctx.xp.is_graph``), the layer is recomputed as a composition of
differentiable core ops (:func:`lstm_layer_composite` ...) on the saved inputs and its vjp
is taken by the engine with ``create_graph=True``, so second derivatives are exact.
Forward mode (``jvp``) propagates tangents through the recurrence on raw arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Op
from chainrule.backend import array_module, is_array
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops._util import graph_vjp
from chainrule.ops.nn import ArgumentError

# ---- checks and small helpers ------------------------------------------------------------

_GATES = {"lstm_layer": 4, "gru_layer": 3, "rnn_layer": 1}


def _shape(a: Any) -> tuple | None:
    return None if a is None else tuple(a.shape)


def _check(op: str, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
           c0: Any = None) -> tuple[int, int, int, int]:  # fmt: skip
    """Validate shapes; returns ``(T, B, F, H)``. Errors name the op and the shapes."""
    gates = _GATES[op]
    g_txt = f"{gates}*hidden" if gates > 1 else "hidden"
    if x is None or x.ndim != 3:
        raise ShapeError(f"{op}: input must be 3-D (seq_len, batch, features), got {_shape(x)}")
    T, B, F = x.shape
    if T == 0:
        raise ShapeError(f"{op}: the sequence is empty (input shape {x.shape})")
    if w_hh is None or w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ShapeError(f"{op}: w_hh must have shape ({g_txt}, hidden), got {_shape(w_hh)}")
    H = w_hh.shape[1]
    if w_ih is None or tuple(w_ih.shape) != (gates * H, F):
        raise ShapeError(
            f"{op}: w_ih must have shape ({g_txt}, input_size) = {(gates * H, F)} for hidden "
            f"size {H} (from w_hh {tuple(w_hh.shape)}) and input {tuple(x.shape)}, got "
            f"{_shape(w_ih)}"
        )
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (gates * H,):
            raise ShapeError(
                f"{op}: {name} must have shape ({gates * H},) for hidden size {H}, got "
                f"{tuple(b.shape)}"
            )
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and tuple(s.shape) != (B, H):
            raise ShapeError(
                f"{op}: {name} must have shape (batch, hidden) = {(B, H)} for input "
                f"{tuple(x.shape)} and w_hh {tuple(w_hh.shape)}, got {tuple(s.shape)}"
            )
    return T, B, F, H


def _common_dtype(op: str, *arrays: Any) -> np.dtype:
    present = [a for a in arrays if a is not None]
    dt = np.result_type(*(a.dtype for a in present))
    if dt.kind != "f":
        raise DTypeError(f"{op}: expected floating-point inputs, got {dt}")
    return dt


def _cast(a: Any, dt: np.dtype) -> Any:
    return None if a is None else a.astype(dt, copy=False)


def _like(g: Any, a: Any) -> Any:
    """A gradient in the dtype of its input (None stays None)."""
    if g is None or a is None:
        return None
    return g if g.dtype == a.dtype else g.astype(a.dtype)


def _tangent(t: Any) -> Any:
    """A jvp argument, or None where it is zero (operands that are not Tensors get 0)."""
    return t if is_array(t) else None


def _gate_vector(xp: Any, values: tuple, H: int, dt: np.dtype) -> Any:
    """A (len(values)*H,) vector holding ``values[k]`` over gate ``k``'s block."""
    return xp.repeat(xp.asarray(values, dtype=dt), H)


def _sigmoid_of_negated(a: np.ndarray) -> None:
    """In place, ``a <- 1 / (1 + exp(a))``: the sigmoid of ``-a``. Run it under
    ``np.errstate(over="ignore")``: exp overflows to inf for ``a`` above ~88 (float32),
    which gives the right limit, 0."""
    xp = array_module(a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)


def _input_projection(x: np.ndarray, w: np.ndarray, bias: Any) -> np.ndarray:
    """``x.reshape(T*B, F) @ w.T + bias`` as a (T, B, rows) array: one GEMM for all steps."""
    T, B, F = x.shape
    xw = x.reshape(T * B, F) @ w.T
    if bias is not None:
        xw += bias
    return xw.reshape(T, B, w.shape[0])


class _WeightGrads:
    """Gradients of everything the pre-activation gradients ``d`` of all steps feed, one GEMM
    (or GEMV) each after the backward loop: ``dx = d @ W_ih``, ``dW_ih = sum_t d_t.T @ x_t``,
    ``dW_hh = sum_t d_t.T @ h_{t-1}``, ``db = sum_{t,b} d``.

    ``d_ih`` (T, B, rows_ih) is the gradient of ``W_ih x + b_ih``, ``d_hh`` (T, B, rows_hh)
    that of ``W_hh h + b_hh`` -- the same array except for the GRU, where they are views
    with a row stride BLAS reads in place; ``needs`` flags ``(x, w_ih, w_hh, b_ih, b_hh)``.
    Results are None where not needed; the two bias gradients are never aliased."""

    def __init__(self, d_ih: np.ndarray, d_hh: np.ndarray, x: np.ndarray, out: np.ndarray,
                 h0: Any, w_ih: np.ndarray, needs: tuple) -> None:  # fmt: skip
        xp = array_module(out)
        T, B, H = out.shape
        nx, nwi, nwh, nbi, nbh = needs
        di = d_ih.reshape(T * B, -1)
        self.dx = (di @ w_ih).reshape(x.shape) if nx else None
        self.dw_ih = di.T @ x.reshape(T * B, -1) if nwi else None
        self.dw_hh = None
        if nwh:  # step t reads h_{t-1}: out[t-1] for t >= 1, h0 for t = 0
            rows = (T - 1) * B
            self.dw_hh = d_hh[1:].reshape(rows, d_hh.shape[-1]).T @ out[:-1].reshape(rows, H)
            if h0 is not None:
                self.dw_hh += d_hh[0].T @ h0
        ones = xp.ones(T * B, dtype=out.dtype)  # a GEMV sums faster than ndarray.sum(0)
        if d_hh is d_ih:
            db = ones @ di if nbi or nbh else None
            self.db_ih = db if nbi else None
            self.db_hh = (db.copy() if nbi else db) if nbh else None
        else:
            self.db_ih = ones @ di if nbi else None
            self.db_hh = ones @ d_hh.reshape(T * B, -1) if nbh else None


# ---- double backward: recompute with core ops, let the engine differentiate --------------


def _core_ops() -> Any:
    from chainrule import ops

    return ops


def _composite_projection(ops: Any, x: Any, w_ih: Any, b: Any, rows: int) -> Any:
    T, B, F = x.shape
    xw = ops.matmul(ops.reshape(x, (T * B, F)), ops.transpose(w_ih))
    if b is not None:
        xw = xw + b
    return ops.reshape(xw, (T, B, rows))


def lstm_layer_composite(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
                         b_hh: Any = None) -> tuple:  # fmt: skip
    """:func:`lstm_layer` written step by step with differentiable core ops (slow; the
    recorded double backward and a reference for tests). Same arguments and results."""
    ops = _core_ops()
    T = x.shape[0]
    H = w_hh.shape[1]
    xw = _composite_projection(ops, x, w_ih, b_ih, 4 * H)
    if b_hh is not None:
        xw = xw + b_hh
    w_hh_t = ops.transpose(w_hh)
    h, c, outs = h0, c0, []
    for t in range(T):
        a = xw[t] if h is None else xw[t] + ops.matmul(h, w_hh_t)
        i = ops.sigmoid(a[:, :H])
        f = ops.sigmoid(a[:, H : 2 * H])
        g = ops.tanh(a[:, 2 * H : 3 * H])
        o = ops.sigmoid(a[:, 3 * H :])
        c = i * g if c is None else f * c + i * g
        h = o * ops.tanh(c)
        outs.append(h)
    return ops.stack(outs), h, c


def gru_layer_composite(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
                        b_hh: Any = None) -> tuple:  # fmt: skip
    """:func:`gru_layer` written step by step with differentiable core ops."""
    ops = _core_ops()
    T = x.shape[0]
    H = w_hh.shape[1]
    xw = _composite_projection(ops, x, w_ih, b_ih, 3 * H)
    w_hh_t = ops.transpose(w_hh)
    h, outs = h0, []
    for t in range(T):
        xr, xz, xn = xw[t][:, :H], xw[t][:, H : 2 * H], xw[t][:, 2 * H :]
        if h is None and b_hh is None:  # the hidden projection is zero
            r, z = ops.sigmoid(xr), ops.sigmoid(xz)
            n = ops.tanh(xn)
        else:
            hw = b_hh if h is None else ops.matmul(h, w_hh_t)
            if h is not None and b_hh is not None:
                hw = hw + b_hh
            if hw.ndim == 1:
                hr, hz, hn = hw[:H], hw[H : 2 * H], hw[2 * H :]
            else:
                hr, hz, hn = hw[:, :H], hw[:, H : 2 * H], hw[:, 2 * H :]
            r, z = ops.sigmoid(xr + hr), ops.sigmoid(xz + hz)
            n = ops.tanh(xn + r * hn)
        h = n - z * n if h is None else n + z * (h - n)
        outs.append(h)
    return ops.stack(outs), h


def rnn_layer_composite(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
                        b_hh: Any = None, nonlinearity: str = "tanh") -> tuple:  # fmt: skip
    """:func:`rnn_layer` written step by step with differentiable core ops."""
    ops = _core_ops()
    T = x.shape[0]
    H = w_hh.shape[1]
    xw = _composite_projection(ops, x, w_ih, b_ih, H)
    if b_hh is not None:
        xw = xw + b_hh
    act = ops.tanh if nonlinearity == "tanh" else ops.relu
    w_hh_t = ops.transpose(w_hh)
    h, outs = h0, []
    for t in range(T):
        h = act(xw[t] if h is None else xw[t] + ops.matmul(h, w_hh_t))
        outs.append(h)
    return ops.stack(outs), h


# ---- LSTM ---------------------------------------------------------------------------------


def _lstm_forward(x: np.ndarray, h0: Any, c0: Any, w_ih: np.ndarray, w_hh: np.ndarray,
                  b_ih: Any, b_hh: Any) -> tuple:  # fmt: skip
    """The recurrence on arrays of one dtype. Returns ``(out, C, TC, Y)``: hidden states
    (T, B, H), cell states (T, B, H), tanh of the cell states (T, B, H) and the gate
    activations (T, B, 4H) in the order (i, f, g, o)."""
    xp = array_module(x)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    # sigmoid(a) = 1 / (1 + exp(-a)) and tanh(a) = 2 * sigmoid(2a) - 1: scale the rows of
    # the sigmoid gates by -1 and the tanh gate's by -2 once, so that one exp over the
    # (B, 4H) block starts every gate's nonlinearity.
    scale = _gate_vector(xp, (-1.0, -1.0, -2.0, -1.0), H, dt)
    bias = None
    if b_ih is not None or b_hh is not None:
        bias = (b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh) * scale
    Y = _input_projection(x, w_ih * scale[:, None], bias)  # becomes the gate activations
    w_hh_t = (w_hh * scale[:, None]).T  # (H, 4H)
    out = xp.empty((T, B, H), dt)
    C = xp.empty((T, B, H), dt)
    TC = xp.empty((T, B, H), dt)
    _lstm_steps(Y, out, C, TC, h0, c0, w_hh_t)
    return out, C, TC, Y


def _lstm_steps(Y: np.ndarray, out: np.ndarray, C: np.ndarray, TC: np.ndarray, h0: Any,
                c0: Any, w_hh_t: np.ndarray) -> None:  # fmt: skip
    """The forward recurrence, step by step: ``Y`` (T, B, 4H) holds the input projection (rows
    scaled as :func:`_lstm_forward` says) and becomes the gate activations; ``out``, ``C``,
    ``TC`` (T, B, H) are filled. Per step: one GEMM and ten in-place elementwise calls."""
    xp = array_module(Y)
    T, B, G = Y.shape
    H = G // 4
    hw = xp.empty((B, G), Y.dtype)
    ig = xp.empty((B, H), Y.dtype)
    h, c = h0, c0
    with np.errstate(over="ignore"):
        for t in range(T):
            y, g = Y[t], Y[t, :, 2 * H : 3 * H]
            if h is not None:
                xp.matmul(h, w_hh_t, out=hw)
                y += hw
            _sigmoid_of_negated(y)  # i, f, o; and sigmoid(2a) on g
            g *= 2
            g -= 1  # tanh(a) = 2 * sigmoid(2a) - 1
            ct = C[t]
            if c is None:
                xp.multiply(y[:, :H], g, out=ct)
            else:
                xp.multiply(y[:, H : 2 * H], c, out=ct)
                xp.multiply(y[:, :H], g, out=ig)
                ct += ig
            xp.tanh(ct, out=TC[t])
            xp.multiply(y[:, 3 * H :], TC[t], out=out[t])
            h, c = out[t], ct


def _lstm_factors(Y: np.ndarray, C: np.ndarray, TC: np.ndarray, c0: Any, E: np.ndarray,
                  K: np.ndarray) -> None:  # fmt: skip
    """Fill ``E`` and ``K`` (see :func:`_lstm_backward`) for all steps at once from the
    forward's activations: everything off the recurrence."""
    xp = array_module(Y)
    T, B, G = Y.shape
    H = G // 4
    y4, e4 = Y.reshape(T, B, 4, H), E.reshape(T, B, 4, H)
    xp.multiply(Y, Y, out=E)
    xp.subtract(Y, E, out=E)  # s(1 - s) on the sigmoid gates
    eg = e4[:, :, 2]
    xp.multiply(y4[:, :, 2], y4[:, :, 2], out=eg)
    xp.subtract(1, eg, out=eg)
    eg *= y4[:, :, 0]  # i * (1 - g^2)
    e4[:, :, 0] *= y4[:, :, 2]  # g * i'
    if c0 is None:  # c_prev * f'
        e4[0, :, 1] = 0
    else:
        e4[0, :, 1] *= c0
    e4[1:, :, 1] *= C[:-1]
    e4[:, :, 3] *= TC  # tanh(c) * o'
    xp.multiply(TC, TC, out=K)
    xp.subtract(1, K, out=K)
    K *= y4[:, :, 3]  # o * (1 - tanh(c)^2)


def _lstm_backward(x: np.ndarray, h0: Any, c0: Any, w_ih: np.ndarray, w_hh: np.ndarray,
                   out: np.ndarray, C: np.ndarray, TC: np.ndarray, Y: np.ndarray,
                   g_out: np.ndarray, g_h: np.ndarray, g_c: np.ndarray,
                   needs: tuple) -> tuple:  # fmt: skip
    """BPTT. Returns ``(dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh)`` (None where not needed).

    Off the recurrence, for all steps at once: ``E`` holds per gate the factor that
    turns the incoming gradient (dc for i, f, g; dh for o) into the gradient of the gate's
    pre-activation -- ``[g*i', c_prev*f', i*g', tanh(c)*o']`` with ``s' = s(1-s)`` and
    ``g' = 1 - g^2`` -- and ``K = o * (1 - tanh(c)^2)`` carries dh into dc. The loop is then
    six in-place NumPy calls and one GEMM per step; the weight gradients come after it, one
    GEMM each."""
    xp = array_module(out)
    dt = out.dtype
    E = xp.empty(Y.shape, dt)
    K = xp.empty(TC.shape, dt)
    DA = xp.empty(Y.shape, dt)  # gradients of a = W_ih x + W_hh h + b
    nx, nh0, nc0, nwi, nwh, nbi, nbh = needs
    dh = xp.array(g_h, dtype=dt)  # fresh copies, updated in place
    dc = xp.array(g_c, dtype=dt)
    _lstm_factors(Y, C, TC, c0, E, K)
    _lstm_bptt(Y, E, K, DA, g_out, dh, dc, w_hh, nh0)
    g = _WeightGrads(DA, DA, x, out, h0, w_ih, (nx, nwi, nwh, nbi, nbh))
    return (g.dx, (dh if nh0 else None), (dc if nc0 else None), g.dw_ih, g.dw_hh, g.db_ih,
            g.db_hh)  # fmt: skip


def _lstm_bptt(Y: np.ndarray, E: np.ndarray, K: np.ndarray, DA: np.ndarray,
               g_out: np.ndarray, dh: np.ndarray, dc: np.ndarray, w_hh: np.ndarray,
               need_h0: bool) -> None:  # fmt: skip
    """The backward recurrence, step by step: fills ``DA`` (T, B, 4H); ``dh`` and ``dc``
    (B, H) come in as the gradients of the final states and leave as those of h0 and c0."""
    xp = array_module(Y)
    T, B, G = Y.shape
    H = G // 4
    f = Y.reshape(T, B, 4, H)[:, :, 1]
    E4, DA4 = E.reshape(T, B, 4, H), DA.reshape(T, B, 4, H)
    tmp = xp.empty((B, H), Y.dtype)
    for t in range(T - 1, -1, -1):
        dh += g_out[t]
        xp.multiply(dh, K[t], out=tmp)
        dc += tmp  # dc_t = dc from above + dh * o * (1 - tanh(c)^2)
        xp.multiply(E4[t, :, :3], dc[:, None, :], out=DA4[t, :, :3])
        xp.multiply(E4[t, :, 3], dh, out=DA4[t, :, 3])
        dc *= f[t]  # dc_{t-1}
        if t > 0 or need_h0:
            xp.matmul(DA[t], w_hh, out=dh)  # dh_{t-1}


class LSTMLayer(Op):
    """One LSTM layer over a sequence; see :func:`lstm_layer`."""

    name = "lstm_layer"

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        _check("lstm_layer", x, h0, w_ih, w_hh, b_ih, b_hh, c0)
        dt = _common_dtype("lstm_layer", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        xs = [_cast(a, dt) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
        out, C, TC, Y = _lstm_forward(*xs)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, C, TC, Y)
        return out, out[-1].copy(), C[-1].copy()

    @staticmethod
    def backward(ctx, g_out, g_h, g_c):
        if ctx.xp.is_graph:
            return graph_vjp(ctx, lstm_layer_composite, 7, (g_out, g_h, g_c))
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, C, TC, Y = ctx.saved
        dt = out.dtype
        grads = _lstm_backward(
            _cast(x, dt), _cast(h0, dt), _cast(c0, dt), _cast(w_ih, dt), _cast(w_hh, dt),
            out, C, TC, Y, g_out, g_h, g_c, ctx.needs_input_grad,
        )  # fmt: skip
        return tuple(_like(g, a) for g, a in zip(grads, (x, h0, c0, w_ih, w_hh, b_ih, b_hh)))

    @staticmethod
    def jvp(ctx, tx, th0, tc0, tw_ih, tw_hh, tb_ih, tb_hh):
        x, h0, c0, w_ih, w_hh, _, _, out, C, TC, Y = ctx.saved
        xp = array_module(out)
        T, B, H = out.shape
        dt = out.dtype
        w_ih, w_hh, h0, c0 = _cast(w_ih, dt), _cast(w_hh, dt), _cast(h0, dt), _cast(c0, dt)
        dA = _tangent_projection(x, out, h0, w_ih, tx, tw_ih, tw_hh, (tb_ih, tb_hh), 4 * H)
        Y4 = Y.reshape(T, B, 4, H)
        D = xp.subtract(Y, Y * Y).reshape(T, B, 4, H)  # s' on sigmoid gates
        D[:, :, 2] = 1 - Y4[:, :, 2] ** 2  # tanh' on g
        dout = xp.empty_like(out)
        dh, dc = _tangent(th0), _tangent(tc0)
        for t in range(T):
            da = dA[t]
            if dh is not None:
                da = da + dh @ w_hh.T
            da = da.reshape(B, 4, H) * D[t]
            di, df, dg, do = da[:, 0], da[:, 1], da[:, 2], da[:, 3]
            i, f, g, o = Y4[t, :, 0], Y4[t, :, 1], Y4[t, :, 2], Y4[t, :, 3]
            c_prev = C[t - 1] if t > 0 else c0
            new_dc = di * g + i * dg
            if c_prev is not None:
                new_dc += df * c_prev
            if dc is not None:
                new_dc += f * dc
            dc = new_dc
            dh = do * TC[t] + o * (1 - TC[t] ** 2) * dc
            dout[t] = dh
        return dout, dh.copy(), dc


def _tangent_projection(x: np.ndarray, out: np.ndarray, h0: Any, w_ih: np.ndarray, tx: Any,
                        tw_ih: Any, tw_hh: Any, tbs: tuple, rows: int) -> np.ndarray:  # fmt: skip
    """Tangent of ``W_ih x_t + W_hh h_{t-1} + b`` from every term except the recurrent
    ``W_hh dh_{t-1}``, for all steps: (T, B, rows)."""
    xp = array_module(out)
    T, B, _ = out.shape
    dt = out.dtype
    dA = xp.zeros((T, B, rows), dt)
    tx, tw_ih, tw_hh = _tangent(tx), _tangent(tw_ih), _tangent(tw_hh)
    if tx is not None:
        dA += _input_projection(tx, w_ih, None)
    if tw_ih is not None:
        dA += _input_projection(x.astype(dt, copy=False), tw_ih, None)
    if tw_hh is not None:
        dA[1:] += out[:-1] @ tw_hh.T
        if h0 is not None:
            dA[0] += h0 @ tw_hh.T
    for tb in tbs:
        if _tangent(tb) is not None:
            dA += tb
    return dA


def lstm_layer(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
               b_hh: Any = None) -> tuple:  # fmt: skip
    """One LSTM layer over a whole sequence (PyTorch's ``nn.LSTM`` math, gates (i, f, g, o)).

    ``x`` (T, B, F); ``h0``, ``c0`` (B, H) or None for zeros; ``w_ih`` (4H, F); ``w_hh``
    (4H, H); ``b_ih``, ``b_hh`` (4H,) or None. Returns ``(out, h_T, c_T)``: ``out`` (T, B, H)
    the hidden state after each step, ``h_T`` and ``c_T`` (B, H) the final states.
    """
    return LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh)


# ---- GRU ----------------------------------------------------------------------------------


def _gru_forward(x: np.ndarray, h0: Any, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Any,
                 b_hh: Any) -> tuple:  # fmt: skip
    """Returns ``(out, Y, HN)``: hidden states (T, B, H), gate activations (T, B, 3H) in the
    order (r, z, n) and ``W_hn h_{t-1} + b_hn`` (T, B, H)."""
    xp = array_module(x)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dt = x.dtype
    scale = _gate_vector(xp, (-1.0, -1.0, 1.0), H, dt)  # sigmoid(a) = 1 / (1 + exp(-a))
    bias = None if b_ih is None else b_ih * scale
    if b_hh is not None:  # b_hr, b_hz join the input projection; b_hn stays inside r * (.)
        rz = b_hh * scale
        rz[2 * H :] = 0
        bias = rz if bias is None else bias + rz
    b_hn = None if b_hh is None else b_hh[2 * H :]
    Y = _input_projection(x, w_ih * scale[:, None], bias)  # becomes the gate activations
    w_hh_t = (w_hh * scale[:, None]).T  # (H, 3H)
    out = xp.empty((T, B, H), dt)
    HN = xp.empty((T, B, H), dt)
    hw = xp.empty((B, 3 * H), dt)
    tmp = xp.empty((B, H), dt)
    h = h0
    with np.errstate(over="ignore"):
        for t in range(T):
            y = Y[t]
            rz, n, hn, ht = y[:, : 2 * H], y[:, 2 * H :], HN[t], out[t]
            if h is not None:
                xp.matmul(h, w_hh_t, out=hw)
                rz += hw[:, : 2 * H]
                if b_hn is None:
                    hn[...] = hw[:, 2 * H :]
                else:
                    xp.add(hw[:, 2 * H :], b_hn, out=hn)
            elif b_hn is None:
                hn[...] = 0
            else:
                hn[...] = b_hn
            _sigmoid_of_negated(rz)
            xp.multiply(y[:, :H], hn, out=tmp)
            n += tmp
            xp.tanh(n, out=n)
            z = y[:, H : 2 * H]
            if h is None:  # h' = n - z * n
                xp.multiply(z, n, out=ht)
                xp.subtract(n, ht, out=ht)
            else:  # h' = n + z * (h - n)
                xp.subtract(h, n, out=ht)
                ht *= z
                ht += n
            h = ht
    return out, Y, HN


def _gru_factors(Y: np.ndarray, HN: np.ndarray, out: np.ndarray, h0: Any,
                 E: np.ndarray) -> None:  # fmt: skip
    """Fill ``E`` (see :func:`_gru_backward`) for all steps: everything off the recurrence."""
    xp = array_module(Y)
    T, B, G = Y.shape
    H = G // 3
    y3, e3 = Y.reshape(T, B, 3, H), E.reshape(T, B, 3, H)
    z, n = y3[:, :, 1], y3[:, :, 2]
    xp.multiply(Y, Y, out=E)
    xp.subtract(Y, E, out=E)  # s(1 - s) on r and z
    e3[:, :, 0] *= HN  # hn * r'
    ez = e3[:, :, 1]  # (h_prev - n) * z'
    ez[0] *= -n[0] if h0 is None else h0 - n[0]
    ez[1:] *= out[:-1] - n[1:]
    en = e3[:, :, 2]  # (1 - z) * (1 - n^2)
    xp.multiply(n, n, out=en)
    xp.subtract(1, en, out=en)
    en *= 1 - z


def _gru_backward(x: np.ndarray, h0: Any, w_ih: np.ndarray, w_hh: np.ndarray,
                  out: np.ndarray, Y: np.ndarray, HN: np.ndarray, g_out: np.ndarray,
                  g_h: np.ndarray, needs: tuple) -> tuple:  # fmt: skip
    """BPTT. Returns ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`` (None where not needed).

    Off the recurrence: ``E = [hn * r', (h_prev - n) * z', (1 - z) * n']`` turns dh into the
    pre-activation gradients, ``dn = dh * E_n``, ``dz = dh * E_z``, ``dr = dn * E_r``; the
    hidden side of n gets ``dn * r``. Per step, ``Q = [d(W_hn h + b_hn), dr, dz, dn]``: its
    first three blocks are the gradient of the hidden projection (rows of W_hh taken in the
    order n, r, z), its last three the gradient of the input projection (rows r, z, n)."""
    xp = array_module(out)
    T, B, H = out.shape
    dt = out.dtype
    Y3 = Y.reshape(T, B, 3, H)
    r, z = Y3[:, :, 0], Y3[:, :, 1]
    E = xp.empty(Y.shape, dt)
    _gru_factors(Y, HN, out, h0, E)
    Q = xp.empty((T, B, 4 * H), dt)
    E3, Q4 = E.reshape(T, B, 3, H), Q.reshape(T, B, 4, H)
    w_hh_p = xp.concatenate([w_hh[2 * H :], w_hh[: 2 * H]])  # rows (n, r, z)
    nx, nh0, nwi, nwh, nbi, nbh = needs
    dh = xp.array(g_h, dtype=dt)
    tmp = xp.empty((B, H), dt)
    for t in range(T - 1, -1, -1):
        dh += g_out[t]
        xp.multiply(E3[t, :, 1:], dh[:, None, :], out=Q4[t, :, 2:])  # dz, dn
        xp.multiply(Q4[t, :, 3], E3[t, :, 0], out=Q4[t, :, 1])  # dr
        xp.multiply(Q4[t, :, 3], r[t], out=Q4[t, :, 0])  # d(W_hn h + b_hn)
        if t > 0 or nh0:
            dh *= z[t]
            xp.matmul(Q[t, :, : 3 * H], w_hh_p, out=tmp)
            dh += tmp
    g = _WeightGrads(Q[:, :, H:], Q[:, :, : 3 * H], x, out, h0, w_ih, (nx, nwi, nwh, nbi, nbh))
    dw_hh = None if g.dw_hh is None else xp.concatenate([g.dw_hh[H:], g.dw_hh[:H]])
    db_hh = None if g.db_hh is None else xp.concatenate([g.db_hh[H:], g.db_hh[:H]])
    return g.dx, (dh if nh0 else None), g.dw_ih, dw_hh, g.db_ih, db_hh


class GRULayer(Op):
    """One GRU layer over a sequence; see :func:`gru_layer`."""

    name = "gru_layer"

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        _check("gru_layer", x, h0, w_ih, w_hh, b_ih, b_hh)
        dt = _common_dtype("gru_layer", x, h0, w_ih, w_hh, b_ih, b_hh)
        xs = [_cast(a, dt) for a in (x, h0, w_ih, w_hh, b_ih, b_hh)]
        out, Y, HN = _gru_forward(*xs)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, out, Y, HN)
        return out, out[-1].copy()

    @staticmethod
    def backward(ctx, g_out, g_h):
        if ctx.xp.is_graph:
            return graph_vjp(ctx, gru_layer_composite, 6, (g_out, g_h))
        x, h0, w_ih, w_hh, b_ih, b_hh, out, Y, HN = ctx.saved
        dt = out.dtype
        grads = _gru_backward(
            _cast(x, dt), _cast(h0, dt), _cast(w_ih, dt), _cast(w_hh, dt), out, Y, HN,
            g_out, g_h, ctx.needs_input_grad,
        )  # fmt: skip
        return tuple(_like(g, a) for g, a in zip(grads, (x, h0, w_ih, w_hh, b_ih, b_hh)))

    @staticmethod
    def jvp(ctx, tx, th0, tw_ih, tw_hh, tb_ih, tb_hh):
        x, h0, w_ih, w_hh, _, _, out, Y, HN = ctx.saved
        xp = array_module(out)
        T, B, H = out.shape
        dt = out.dtype
        w_ih, w_hh, h0 = _cast(w_ih, dt), _cast(w_hh, dt), _cast(h0, dt)
        # input side: tangent of W_ih x + b_ih, all steps
        dX = _tangent_projection(x, out, None, w_ih, tx, tw_ih, None, (tb_ih,), 3 * H)
        # hidden side without the recurrent term: h_{t-1} @ tW_hh.T + tb_hh
        dHc = _tangent_projection(x, out, h0, w_ih, None, None, tw_hh, (tb_hh,), 3 * H)
        Y3 = Y.reshape(T, B, 3, H)
        dout = xp.empty_like(out)
        dh = _tangent(th0)
        for t in range(T):
            r, z, n = Y3[t, :, 0], Y3[t, :, 1], Y3[t, :, 2]
            dhw = dHc[t] if dh is None else dHc[t] + dh @ w_hh.T
            dr = r * (1 - r) * (dX[t, :, :H] + dhw[:, :H])
            dz = z * (1 - z) * (dX[t, :, H : 2 * H] + dhw[:, H : 2 * H])
            dn = (1 - n * n) * (dX[t, :, 2 * H :] + dr * HN[t] + r * dhw[:, 2 * H :])
            h_prev = out[t - 1] if t > 0 else h0
            new = dn + dz * ((0 if h_prev is None else h_prev) - n) - z * dn
            if dh is not None:
                new += z * dh
            dh = new
            dout[t] = dh
        return dout, dh.copy()


def gru_layer(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
              b_hh: Any = None) -> tuple:  # fmt: skip
    """One GRU layer over a whole sequence (PyTorch's ``nn.GRU`` math, gates (r, z, n)):
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    ``x`` (T, B, F); ``h0`` (B, H) or None for zeros; ``w_ih`` (3H, F); ``w_hh`` (3H, H);
    ``b_ih``, ``b_hh`` (3H,) or None. Returns ``(out, h_T)``: ``out`` (T, B, H), ``h_T``
    (B, H).
    """
    return GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh)


# ---- Elman RNN ----------------------------------------------------------------------------

_NONLINEARITIES = ("tanh", "relu")


def _rnn_forward(x: np.ndarray, h0: Any, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Any,
                 b_hh: Any, relu: bool) -> np.ndarray:  # fmt: skip
    """The hidden states (T, B, H)."""
    xp = array_module(x)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    bias = b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh
    out = _input_projection(x, w_ih, bias)  # each step is finished in place
    w_hh_t = w_hh.T
    hw = xp.empty((B, H), x.dtype)
    h = h0
    for t in range(T):
        y = out[t]
        if h is not None:
            xp.matmul(h, w_hh_t, out=hw)
            y += hw
        if relu:
            xp.maximum(y, 0, out=y)
        else:
            xp.tanh(y, out=y)
        h = y
    return out


def _rnn_derivative(out: np.ndarray, relu: bool, dest: np.ndarray | None = None) -> np.ndarray:
    """The nonlinearity's derivative from its output (relu'(0) = 0), into ``dest``."""
    xp = array_module(out)
    dest = xp.empty_like(out) if dest is None else dest
    if relu:
        xp.greater(out, 0, out=dest)
    else:
        xp.multiply(out, out, out=dest)
        xp.subtract(1, dest, out=dest)
    return dest


def _rnn_backward(x: np.ndarray, h0: Any, w_ih: np.ndarray, w_hh: np.ndarray,
                  out: np.ndarray, g_out: np.ndarray, g_h: np.ndarray, relu: bool,
                  needs: tuple) -> tuple:  # fmt: skip
    """BPTT. Returns ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`` (None where not needed)."""
    xp = array_module(out)
    T = out.shape[0]
    dt = out.dtype
    D = _rnn_derivative(out, relu)
    DA = xp.empty(out.shape, dt)
    nx, nh0, nwi, nwh, nbi, nbh = needs
    dh = xp.array(g_h, dtype=dt)
    for t in range(T - 1, -1, -1):
        dh += g_out[t]
        xp.multiply(dh, D[t], out=DA[t])
        if t > 0 or nh0:
            xp.matmul(DA[t], w_hh, out=dh)
    g = _WeightGrads(DA, DA, x, out, h0, w_ih, (nx, nwi, nwh, nbi, nbh))
    return g.dx, (dh if nh0 else None), g.dw_ih, g.dw_hh, g.db_ih, g.db_hh


class RNNLayer(Op):
    """One Elman RNN layer over a sequence; see :func:`rnn_layer`."""

    name = "rnn_layer"

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, *, nonlinearity="tanh"):
        _check("rnn_layer", x, h0, w_ih, w_hh, b_ih, b_hh)
        dt = _common_dtype("rnn_layer", x, h0, w_ih, w_hh, b_ih, b_hh)
        xs = [_cast(a, dt) for a in (x, h0, w_ih, w_hh, b_ih, b_hh)]
        relu = nonlinearity == "relu"
        out = _rnn_forward(*xs, relu)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, out)
        ctx.nonlinearity = nonlinearity
        return out, out[-1].copy()

    @staticmethod
    def backward(ctx, g_out, g_h):
        nl = ctx.nonlinearity
        if ctx.xp.is_graph:
            return graph_vjp(ctx, rnn_layer_composite, 6, (g_out, g_h), nonlinearity=nl)
        x, h0, w_ih, w_hh, b_ih, b_hh, out = ctx.saved
        dt = out.dtype
        grads = _rnn_backward(
            _cast(x, dt), _cast(h0, dt), _cast(w_ih, dt), _cast(w_hh, dt), out, g_out, g_h,
            nl == "relu", ctx.needs_input_grad,
        )  # fmt: skip
        return tuple(_like(g, a) for g, a in zip(grads, (x, h0, w_ih, w_hh, b_ih, b_hh)))

    @staticmethod
    def jvp(ctx, tx, th0, tw_ih, tw_hh, tb_ih, tb_hh):
        x, h0, w_ih, w_hh, _, _, out = ctx.saved
        xp = array_module(out)
        T, _, H = out.shape
        dt = out.dtype
        w_ih, w_hh, h0 = _cast(w_ih, dt), _cast(w_hh, dt), _cast(h0, dt)
        dA = _tangent_projection(x, out, h0, w_ih, tx, tw_ih, tw_hh, (tb_ih, tb_hh), H)
        D = _rnn_derivative(out, ctx.nonlinearity == "relu")
        dout = xp.empty_like(out)
        dh = _tangent(th0)
        for t in range(T):
            da = dA[t] if dh is None else dA[t] + dh @ w_hh.T
            dh = D[t] * da
            dout[t] = dh
        return dout, dh.copy()


def rnn_layer(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None,
              nonlinearity: str = "tanh") -> tuple:  # fmt: skip
    """One Elman RNN layer over a whole sequence (PyTorch's ``nn.RNN`` math):
    ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with ``act`` tanh or relu.

    ``x`` (T, B, F); ``h0`` (B, H) or None for zeros; ``w_ih`` (H, F); ``w_hh`` (H, H);
    ``b_ih``, ``b_hh`` (H,) or None. Returns ``(out, h_T)``: ``out`` (T, B, H), ``h_T``
    (B, H).
    """
    if nonlinearity not in _NONLINEARITIES:
        raise ArgumentError(
            f"rnn_layer: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'"
        )
    return RNNLayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity)


__all__ = [
    "GRULayer", "LSTMLayer", "RNNLayer", "gru_layer", "gru_layer_composite", "lstm_layer",
    "lstm_layer_composite", "rnn_layer", "rnn_layer_composite",
]  # fmt: skip

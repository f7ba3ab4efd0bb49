"""Recurrent layers: RNN, LSTM, GRU (PyTorch's constructor arguments, parameter names,
layouts, gate orders and default initialisation).

Each layer (and each direction) of a module is one call of a fused op from
:mod:`chainrule.ops.rnn` -- the input projection of the whole sequence in one GEMM, one
GEMM per step, a hand-written BPTT backward -- so a stack of ``num_layers`` is
``num_layers`` graph nodes whatever the sequence length, and a sequence of thousands of
steps backprops. The modular ``backward`` and every autodiff transform work unchanged.

Shapes (``D`` = 2 if bidirectional else 1, ``L`` = num_layers):

* input ``(T, B, input_size)``, or ``(B, T, input_size)`` with ``batch_first=True``, or
  ``(T, input_size)`` for one unbatched sequence;
* ``hx`` (optional, zeros when omitted): ``h0`` of shape ``(D*L, B, hidden_size)`` (``(D*L,
  hidden_size)`` unbatched); for the LSTM the pair ``(h0, c0)``;
* returns ``(output, h_n)`` -- ``(output, (h_n, c_n))`` for the LSTM -- where ``output`` is
  ``(T, B, D*hidden_size)`` (batch first if asked): the last layer's hidden state after
  every step; ``h_n``, ``c_n`` ``(D*L, B, hidden_size)``: every layer's final state;
* or a :class:`~chainrule.nn.utils.rnn.PackedSequence` as input (``batch_first`` does not
  apply): ``output`` is then a PackedSequence with the input's ``batch_sizes`` and
  indices, and ``h_n``/``c_n`` hold each sequence's state after its own last step (the
  reverse direction starts there too), in the original batch order, as are ``hx``'s rows.
  Positions past a sequence's end are never read. Each layer and direction runs the fused
  op once per run of steps with one batch size (sequences sorted by decreasing length,
  the finished ones dropped from the bottom), so the cost follows ``sum(lengths)``.

Parameters of layer ``k`` (suffix ``_reverse`` for the backward direction):
``weight_ih_l{k}`` ``(G*hidden_size, input_size)`` (``D*hidden_size`` inputs for
``k > 0``), ``weight_hh_l{k}`` ``(G*hidden_size, hidden_size)``, ``bias_ih_l{k}``,
``bias_hh_l{k}`` ``(G*hidden_size,)``, with G = 4 for the LSTM (gates i, f, g, o), 3 for
the GRU (r, z, n) and 1 for the RNN. All are initialised from U(-1/sqrt(hidden_size),
1/sqrt(hidden_size)), as PyTorch does, with chainrule's generator (``cr.manual_seed``).
``dropout`` > 0 applies inverted dropout to the output of every layer but the last, in
training mode only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend, ops
from chainrule.backend import float32
from chainrule.errors import ShapeError
from chainrule.nn import _checks, init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.rnn import PackedSequence, packed_layout
from chainrule.ops import rnn as _rnn
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, as_dtype

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _init_uniform(m: Module) -> None:
    """Every parameter of ``m`` from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    bound = 1.0 / math.sqrt(m.hidden_size)
    for p in m.parameters():
        init.uniform_(p, -bound, bound)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class _RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters, checks, layers and directions, on a padded
    batch (:meth:`_run`) or a PackedSequence (:meth:`_run_packed`)."""

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _checks.size(name, "input_size", input_size)
        self.hidden_size = _checks.size(name, "hidden_size", hidden_size, 1)
        self.num_layers = _checks.size(name, "num_layers", num_layers, 1)
        _checks.probability(name, "dropout", dropout)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        dt = float32 if dtype is None else as_dtype(dtype)
        G, H = _GATES[self.mode], self.hidden_size
        D = 2 if self.bidirectional else 1
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else D * H
            for suffix in ("", "_reverse")[:D]:
                setattr(self, f"weight_ih_l{k}{suffix}", Parameter(np.empty((G * H, n_in), dt)))
                setattr(self, f"weight_hh_l{k}{suffix}", Parameter(np.empty((G * H, H), dt)))
                if self.bias:
                    setattr(self, f"bias_ih_l{k}{suffix}", Parameter(np.empty((G * H,), dt)))
                    setattr(self, f"bias_hh_l{k}{suffix}", Parameter(np.empty((G * H,), dt)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _init_uniform(self)

    def _weights(self, k: int, suffix: str) -> tuple:
        p = self._parameters
        return (p[f"weight_ih_l{k}{suffix}"], p[f"weight_hh_l{k}{suffix}"],
                p.get(f"bias_ih_l{k}{suffix}"), p.get(f"bias_hh_l{k}{suffix}"))  # fmt: skip

    # ---- input checks ---------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> bool:
        """Validate the input; returns whether it is batched."""
        name = type(self).__name__
        if x.ndim not in (2, 3):
            raise ShapeError(
                f"{name}: expected a 3-D input (seq_len, batch, input_size) "
                f"{'(batch first) ' if self.batch_first else ''}or a 2-D unbatched one, "
                f"got shape {x.shape}"
            )
        if x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{name}: input has {x.shape[-1]} features (shape {x.shape}), expected "
                f"input_size={self.input_size}"
            )
        return x.ndim == 3

    def _check_state(self, h: Any, what: str, batch: int, batched: bool,
                     packed: bool = False) -> Tensor:  # fmt: skip
        h = _as_tensor(h)
        D = 2 if self.bidirectional else 1
        want = (D * self.num_layers, batch, self.hidden_size) if batched else (
            D * self.num_layers, self.hidden_size)  # fmt: skip
        if h.shape != want:
            of = f" for a packed input of {batch} sequences" if packed else ""
            raise ShapeError(
                f"{type(self).__name__}: {what} must have shape {want} (num_layers*directions,"
                f"{' batch,' if batched else ''} hidden_size){of}, got {h.shape}"
            )
        return h if batched else ops.unsqueeze(h, 1)

    # ---- the layers -----------------------------------------------------------------------
    def _run(self, x: Tensor, hx: Any) -> tuple:
        """Shared forward. ``hx`` is None or a tuple of state tensors (one, or two for the
        LSTM); returns ``(output, final states as a tuple)``."""
        if isinstance(x, PackedSequence):
            return self._run_packed(x, hx)
        x = _as_tensor(x)
        batched = self._check_input(x)
        if not batched:
            x = ops.unsqueeze(x, 1)
        elif self.batch_first:
            x = ops.swapaxes(x, 0, 1)
        B = x.shape[1]
        n_states = 2 if self.mode == "LSTM" else 1
        names = ("h0", "c0")
        states = None
        if hx is not None:
            states = [self._check_state(h, names[i], B, batched) for i, h in enumerate(hx)]
        D = 2 if self.bidirectional else 1
        finals: list[list] = [[] for _ in range(n_states)]
        layer_in = x
        for k in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                init_states = [None] * n_states
                if states is not None:
                    init_states = [s[k * D + d] for s in states]
                seq = layer_in if d == 0 else layer_in[::-1]
                res = self._layer(seq, init_states, self._weights(k, suffix))
                out = res[0] if d == 0 else res[0][::-1]
                outs.append(out)
                for i in range(n_states):
                    finals[i].append(res[1 + i])
            layer_in = outs[0] if D == 1 else ops.concatenate(outs, axis=-1)
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                from chainrule.nn import functional as F

                layer_in = F.dropout(layer_in, self.dropout, training=True)
        output = layer_in
        h_n = [ops.stack(f) for f in finals]
        if not batched:
            output = ops.squeeze(output, 1)
            h_n = [ops.squeeze(h, 1) for h in h_n]
        elif self.batch_first:
            output = ops.swapaxes(output, 0, 1)
        return output, tuple(h_n)

    def _run_packed(self, packed: PackedSequence, hx: Any) -> tuple:
        """:meth:`_run` for a PackedSequence: the same layers, directions and dropout on
        the packed data ``(sum(lengths), features)``, with every sequence's own final state.
        Rows of the batch are in sorted (decreasing-length) order inside; ``hx`` comes in
        and ``h_n`` goes out in the original order."""
        name = type(self).__name__
        layout, order, inverse = packed_layout(name, packed)
        x = _as_tensor(packed.data)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ShapeError(f"{name}: a packed input's data must be (sum(lengths), input_size="
                             f"{self.input_size}), got shape {x.shape}")  # fmt: skip
        if order is not None:  # index arrays on the data's device
            order = backend.to_device_of(order, x.data)
            inverse = backend.to_device_of(inverse, x.data)
        n_states = 2 if self.mode == "LSTM" else 1
        states = None
        if hx is not None:
            states = [self._check_state(h, ("h0", "c0")[i], layout.batch, True, packed=True)
                      for i, h in enumerate(hx)]  # fmt: skip
            if order is not None:
                states = [s[:, order] for s in states]
        D = 2 if self.bidirectional else 1
        segments = layout.segments()
        flip = backend.to_device_of(layout.reversal(), x.data) if D == 2 else None
        finals: list[list] = [[] for _ in range(n_states)]
        layer_in = x
        for k in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                init = [None] * n_states if states is None else [s[k * D + d] for s in states]
                seq = layer_in if d == 0 else layer_in[flip]
                out, last = self._packed_direction(seq, init, self._weights(k, suffix),
                                                   segments)  # fmt: skip
                outs.append(out if d == 0 else out[flip])
                for i in range(n_states):
                    finals[i].append(last[i])
            layer_in = outs[0] if D == 1 else ops.concatenate(outs, axis=-1)
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                from chainrule.nn import functional as F

                layer_in = F.dropout(layer_in, self.dropout, training=True)
        h_n = [ops.stack(f) for f in finals]
        if inverse is not None:
            h_n = [h[:, inverse] for h in h_n]
        return packed._replace(data=layer_in), tuple(h_n)

    def _packed_direction(self, x: Tensor, init: list, weights: tuple,
                          segments: list) -> tuple[Tensor, list]:  # fmt: skip
        """One layer, one direction, over packed rows ``x`` (sorted batch): the fused op on
        each run of steps with one batch size ``b``, started from the carried states of
        the first ``b`` sequences. Returns the packed output and the final states (B, H)
        of every sequence, taken when it finishes."""
        carry = list(init)
        done: list[list] = [[] for _ in init]
        outs = []
        for row0, row1, steps, b, after in segments:
            seq = ops.reshape(x[row0:row1], (steps, b, x.shape[1]))
            h0 = [c if c is None or c.shape[0] == b else c[:b] for c in carry]
            res = self._layer(seq, h0, weights)
            outs.append(ops.reshape(res[0], (steps * b, self.hidden_size)))
            carry = list(res[1:])
            for i, state in enumerate(carry):
                done[i].append(state if after == 0 else state[after:])
        out = outs[0] if len(outs) == 1 else ops.concatenate(outs)
        # the sequences finishing last are the first rows: put the pieces back in row order
        last = [f[0] if len(f) == 1 else ops.concatenate(f[::-1]) for f in done]
        return out, last

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN (PyTorch's ``nn.RNN``): ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``
    with ``act`` tanh (default) or relu.

    Args:
        input_size, hidden_size, num_layers=1, nonlinearity="tanh" ("tanh" or "relu"),
        bias=True, batch_first=False, dropout=0.0, bidirectional=False, dtype=float32.

    ``forward(x, hx=None)`` returns ``(output, h_n)``; ``x`` padded or a PackedSequence
    (shapes in :mod:`chainrule.nn.rnn`).
    Parameters ``weight_ih_l{k}`` (H, in), ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (H,), all U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(
                f"RNN: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'"
            )
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)  # fmt: skip
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity

    def forward(self, x: Any, hx: Any = None) -> tuple:
        output, (h_n,) = self._run(x, None if hx is None else (hx,))
        return output, h_n

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        return _rnn.rnn_layer(x, states[0], *weights, nonlinearity=self.nonlinearity)


class LSTM(_RNNBase):
    """Long short-term memory (PyTorch's ``nn.LSTM``), gates in the order (i, f, g, o):
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, dtype=float32.

    ``forward(x, hx=None)`` with ``hx = (h0, c0)`` returns ``(output, (h_n, c_n))``; ``x``
    padded or a PackedSequence (shapes in :mod:`chainrule.nn.rnn`). Parameters
    ``weight_ih_l{k}`` (4H, in), ``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (4H,), all U(-1/sqrt(H), 1/sqrt(H)).
    """

    mode = "LSTM"

    def forward(self, x: Any, hx: Any = None) -> tuple:
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ShapeError("LSTM: hx must be a pair (h0, c0)")
        output, (h_n, c_n) = self._run(x, None if hx is None else tuple(hx))
        return output, (h_n, c_n)

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        return _rnn.lstm_layer(x, states[0], states[1], *weights)


class GRU(_RNNBase):
    """Gated recurrent unit (PyTorch's ``nn.GRU``), gates in the order (r, z, n):
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, dtype=float32.

    ``forward(x, hx=None)`` returns ``(output, h_n)``; ``x`` padded or a PackedSequence
    (shapes in :mod:`chainrule.nn.rnn`).
    Parameters ``weight_ih_l{k}`` (3H, in), ``weight_hh_l{k}`` (3H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (3H,), all U(-1/sqrt(H), 1/sqrt(H)).
    """

    mode = "GRU"

    def forward(self, x: Any, hx: Any = None) -> tuple:
        output, (h_n,) = self._run(x, None if hx is None else (hx,))
        return output, h_n

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        return _rnn.gru_layer(x, states[0], *weights)


# ---- cells: one step, for loops written by hand -----------------------------------------------


class _CellBase(Module):
    """What RNNCell, LSTMCell and GRUCell share: one time step of the matching layer, run
    by the same fused op on a sequence of length 1. Parameters ``weight_ih`` (G*H, in),
    ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,), U(-1/sqrt(H), 1/sqrt(H)), as
    PyTorch. Input (B, input_size) or unbatched (input_size,); states (B, H) or (H,),
    zeros when omitted."""

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        name = type(self).__name__
        self.input_size = _checks.size(name, "input_size", input_size)
        self.hidden_size = _checks.size(name, "hidden_size", hidden_size, 1)
        self.bias = bool(bias)
        dt = float32 if dtype is None else as_dtype(dtype)
        G, H = _GATES[self.mode], self.hidden_size
        self.weight_ih = Parameter(np.empty((G * H, self.input_size), dt))
        self.weight_hh = Parameter(np.empty((G * H, H), dt))
        if self.bias:
            self.bias_ih = Parameter(np.empty((G * H,), dt))
            self.bias_hh = Parameter(np.empty((G * H,), dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _init_uniform(self)

    def _step(self, x: Any, hx: tuple | None) -> tuple:
        """Run one step; returns the new states, batched or not as the input was."""
        name = type(self).__name__
        x = _as_tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{name}: input must be (batch, {self.input_size}) or ({self.input_size},), "
                f"got {x.shape}"
            )
        batched = x.ndim == 2
        x2 = x if batched else ops.unsqueeze(x, 0)
        want = (x2.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        states: list = [None] * (2 if self.mode == "LSTM" else 1)
        for i, h in enumerate(hx or ()):
            h = _as_tensor(h)
            if h.shape != want:
                raise ShapeError(
                    f"{name}: state {i} has shape {h.shape}, expected {want} for input {x.shape}"
                )
            states[i] = h if batched else ops.unsqueeze(h, 0)
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        res = self._layer(ops.unsqueeze(x2, 0), states, weights)[1:]
        return tuple(r if batched else ops.squeeze(r, 0) for r in res)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of an Elman RNN (PyTorch's ``nn.RNNCell``):
    ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, ``act`` tanh or relu. ``forward(x, hx=None)``
    returns ``h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = None) -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        return self._step(x, None if hx is None else (hx,))[0]

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        return _rnn.rnn_layer(x, states[0], *weights, nonlinearity=self.nonlinearity)


class LSTMCell(_CellBase):
    """One LSTM step (PyTorch's ``nn.LSTMCell``, gates (i, f, g, o)):
    ``forward(x, hx=None)`` with ``hx = (h, c)`` returns ``(h', c')``."""

    mode = "LSTM"

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        if hx is not None and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise ShapeError("LSTMCell: hx must be a pair (h, c)")
        h, c = self._step(x, None if hx is None else tuple(hx))
        return h, c

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        return _rnn.lstm_layer(x, states[0], states[1], *weights)


class GRUCell(_CellBase):
    """One GRU step (PyTorch's ``nn.GRUCell``, gates (r, z, n)): ``forward(x, hx=None)``
    returns ``h'``."""

    mode = "GRU"

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        return self._step(x, None if hx is None else (hx,))[0]

    def _layer(self, x: Tensor, states: list, weights: tuple) -> tuple:
        return _rnn.gru_layer(x, states[0], *weights)

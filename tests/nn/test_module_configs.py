"""Random layer configurations against PyTorch.

The module oracle table (``chainrule.testing.modules``) checks a few hand-picked
configurations of each layer; these tests let hypothesis draw them: convolutions (groups,
stride, padding including "same" and the padding modes, dilation, bias, unbatched),
transposed convolutions (output padding up to the stride or the dilation), upsampling
(every mode, sizes and scale factors), pools
(ceil mode, padding, dilation, count_include_pad, divisor_override, indices), recurrent
layers (layers, bidirectional, batch_first, bias, nonlinearity, unbatched) and cells,
batch, layer and group norm (momentum None, affine, tracked statistics, groups) and
multi-head attention (heads, bias, batch_first, kdim/vdim, boolean masks). Each drawn layer
goes through the table's own checks: outputs, input and parameter gradients and buffers
against the torch layer with the same weights (train and eval), forward mode against
reverse mode, and the modular backward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chainrule import nn
from chainrule.testing import modules as M
from chainrule.testing.oracle import Sample, distinct

pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHECKS = ("torch", "fwd_rev", "backward")


def _ints(draw: Any, n: int, lo: int, hi: int) -> tuple[int, ...]:
    return tuple(draw(st.integers(lo, hi)) for _ in range(n))


@st.composite
def convs(draw: Any) -> tuple:
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k, d = _ints(draw, dims, 1, 3), _ints(draw, dims, 1, 2)
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    if draw(st.booleans()) and draw(st.booleans()):
        stride, padding = (1,) * dims, "same"
        pads = [di * (ki - 1) for ki, di in zip(k, d)]
    else:
        stride, padding = _ints(draw, dims, 1, 3), _ints(draw, dims, 0, 2)
        pads = list(padding)
    # big enough for the dilated kernel and for reflect padding (< the size)
    size = tuple(max(di * (ki - 1) + 1, p + 1) + draw(st.integers(0, 3))
                 for ki, di, p in zip(k, d, pads))  # fmt: skip
    batch = () if draw(st.integers(0, 5)) == 0 else (draw(st.integers(1, 2)),)
    kwargs = {"stride": stride, "padding": padding, "dilation": d, "groups": groups,
              "bias": draw(st.booleans()), "padding_mode": mode}  # fmt: skip
    return f"Conv{dims}d", (cin, cout, k), kwargs, (*batch, cin, *size), None


@st.composite
def conv_transposes(draw: Any) -> tuple:
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k, s, d = _ints(draw, dims, 1, 3), _ints(draw, dims, 1, 3), _ints(draw, dims, 1, 2)
    extra = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    size = _ints(draw, dims, 1, 4)
    # padding at most what keeps the output at least one long
    canvas = [(i - 1) * si + di * (ki - 1) + 1 for i, si, di, ki in zip(size, s, d, k)]
    padding = tuple(draw(st.integers(0, (c + e - 1) // 2)) for c, e in zip(canvas, extra))
    batch = () if draw(st.integers(0, 5)) == 0 else (draw(st.integers(1, 2)),)
    kwargs = {"stride": s, "padding": padding, "output_padding": extra, "groups": groups,
              "bias": draw(st.booleans()), "dilation": d}  # fmt: skip
    return f"ConvTranspose{dims}d", (cin, cout, k), kwargs, (*batch, cin, *size), None


@st.composite
def upsamples(draw: Any) -> tuple:
    mode = draw(st.sampled_from(["nearest", "linear", "bilinear", "area"]))
    rank = {"linear": 1, "bilinear": 2}.get(mode) or draw(
        st.integers(1, 3 if mode == "nearest" else 2)
    )
    spatial = _ints(draw, rank, 1, 5)
    kwargs: dict[str, Any] = {"mode": mode}
    if draw(st.booleans()):
        kwargs["size"] = _ints(draw, rank, 1, 8)
    else:  # factors that keep every size >= 1
        factors = st.sampled_from([0.5, 1.0, 1.2, 1.5, 2.0, 2.1, 3.0])
        kwargs["scale_factor"] = tuple(max(draw(factors), 1 / i) for i in spatial)
        kwargs["recompute_scale_factor"] = mode != "area" and draw(st.booleans())
        # torch's 1-D and 3-D nearest backward (not its forward) copies an axis that keeps
        # its size and halves the index of one that doubles, whatever the factor: its
        # gradient is then not the forward's (chainrule's is, by central differences)
        quirk = [math.floor(i * f) in (i, 2 * i) and f not in (1.0, 2.0)
                 for i, f in zip(spatial, kwargs["scale_factor"])]  # fmt: skip
        assume(mode != "nearest" or rank == 2 or kwargs["recompute_scale_factor"]
               or not any(quirk))  # fmt: skip
    if mode in ("linear", "bilinear"):
        kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
    return "Upsample", (), kwargs, (draw(st.integers(1, 2)), 2, *spatial), None


@st.composite
def pools(draw: Any) -> tuple:
    name = draw(st.sampled_from(["MaxPool2d", "AvgPool2d"]))
    k = _ints(draw, 2, 1, 3)
    stride = None if draw(st.booleans()) else _ints(draw, 2, 1, 3)
    padding = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    kwargs: dict[str, Any] = {"stride": stride, "padding": padding,
                              "ceil_mode": draw(st.booleans())}  # fmt: skip
    dilation = (1, 1)
    if name == "MaxPool2d":
        dilation = kwargs["dilation"] = _ints(draw, 2, 1, 2)
        kwargs["return_indices"] = draw(st.booleans())  # (the checks compare the values)
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["divisor_override"] = draw(st.sampled_from([None, None, None, 3]))
    size = tuple(di * (ki - 1) + 1 + draw(st.integers(0, 4)) for ki, di in zip(k, dilation))
    batch = () if draw(st.integers(0, 5)) == 0 else (draw(st.integers(1, 2)),)
    shape = (*batch, draw(st.integers(1, 2)), *size)
    return name, (k,), kwargs, shape, distinct(0.05) if name == "MaxPool2d" else None


@st.composite
def recurrent(draw: Any) -> tuple:
    name = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    features, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kwargs = {"num_layers": draw(st.integers(1, 2)), "bias": draw(st.booleans()),
              "batch_first": draw(st.booleans()), "bidirectional": draw(st.booleans())}  # fmt: skip
    if name == "RNN":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    steps, batch = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    if draw(st.integers(0, 4)) == 0:
        shape: tuple = (steps, features)  # unbatched
    else:
        shape = (batch, steps, features) if kwargs["batch_first"] else (steps, batch, features)
    return name, (features, hidden), kwargs, shape, None


@st.composite
def cells(draw: Any) -> tuple:
    name = draw(st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"]))
    features, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kwargs: dict[str, Any] = {"bias": draw(st.booleans())}
    if name == "RNNCell":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    batch = () if draw(st.integers(0, 3)) == 0 else (draw(st.integers(1, 3)),)
    with_state = draw(st.booleans())
    return name, (features, hidden), kwargs, ((*batch, features), with_state), None


@st.composite
def norms(draw: Any) -> tuple:
    name = draw(st.sampled_from(["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]))
    if name == "GroupNorm":
        groups = draw(st.integers(1, 3))
        channels = groups * draw(st.integers(1, 2))
        # batch 2+: torch refuses a batch of one sample whose groups hold one value each
        shape = (draw(st.integers(2, 3)), channels, *_ints(draw, draw(st.integers(0, 2)), 1, 3))
        kwargs = {"affine": draw(st.booleans()), "eps": draw(st.sampled_from([1e-5, 1e-3]))}
        return name, (groups, channels), kwargs, shape, None
    if name == "LayerNorm":
        shape = _ints(draw, draw(st.integers(1, 3)), 1, 3)
        normalized = shape[len(shape) - draw(st.integers(1, len(shape))) :]
        kwargs = {"elementwise_affine": draw(st.booleans()), "bias": draw(st.booleans()),
                  "eps": draw(st.sampled_from([1e-5, 1e-3]))}  # fmt: skip
        return name, (list(normalized),), kwargs, shape, None
    channels, n = draw(st.integers(1, 3)), draw(st.integers(2, 3))
    kwargs = {"momentum": draw(st.sampled_from([None, 0.1, 0.7])), "affine": draw(st.booleans()),
              "track_running_stats": draw(st.booleans())}  # fmt: skip
    if name == "BatchNorm1d":
        shape = (n, channels, *_ints(draw, draw(st.integers(0, 1)), 1, 3))
    else:
        shape = (n, channels, *_ints(draw, 2, 1, 3))
    return name, (channels,), kwargs, shape, None


@st.composite
def attention(draw: Any) -> tuple:
    heads = draw(st.integers(1, 3))
    embed = heads * draw(st.integers(1, 2))
    kwargs = {"bias": draw(st.booleans()), "batch_first": draw(st.booleans())}
    if draw(st.booleans()):  # keys and values of their own sizes
        kwargs["kdim"], kwargs["vdim"] = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sizes = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    masks = (draw(st.booleans()), draw(st.booleans()))
    return "MultiheadAttention", (embed, heads), kwargs, (sizes, masks), None


def _samples(name: str, args: tuple, kwargs: dict, shape: Any, seed: int) -> list[Sample]:
    rng = np.random.default_rng(seed)
    if name.endswith("Cell"):
        x_shape, with_state = shape
        if not with_state:
            return [Sample((M._r(rng, x_shape),))]
        h_shape = (*x_shape[:-1], args[1])
        state = (
            (M._r(rng, h_shape), M._r(rng, h_shape)) if name == "LSTMCell" else M._r(rng, h_shape)
        )
        return [Sample((M._r(rng, x_shape), state))]
    if name != "MultiheadAttention":
        return [Sample((M._r(rng, shape),))]
    (queries, keys, batch), (attn, padding) = shape
    embed = args[0]

    def seq(n: int, size: int) -> np.ndarray:
        return M._r(rng, (batch, n, size) if kwargs["batch_first"] else (n, batch, size))

    masks = {}
    if attn:  # True: may not attend; every query keeps key 0
        masks["attn_mask"] = rng.random((queries, keys)) < 0.4
        masks["attn_mask"][:, 0] = False
    if padding:
        masks["key_padding_mask"] = rng.random((batch, keys)) < 0.4
        masks["key_padding_mask"][:, 0] = False
    kdim, vdim = kwargs.get("kdim", embed), kwargs.get("vdim", embed)
    return [Sample((seq(queries, embed), seq(keys, kdim), seq(keys, vdim)), masks)]


def _check(config: tuple, seed: int) -> None:
    name, args, kwargs, shape, domain = config
    cls = getattr(nn, name)
    samples = _samples(name, args, kwargs, shape, seed)
    info = M.ModuleInfo(
        name=f"{name}{args}{kwargs} on {shape}",
        ctor=lambda: cls(*args, **kwargs),
        inputs=lambda rng: samples,
        torch_ctor=M._tnn(name, *args, **kwargs),
        domain=domain,
    )
    for case in info.cases():
        for check in CHECKS:
            M.CHECKS[check](info, case)


SEEDS = st.integers(0, 2**32 - 1)


@SETTINGS
@given(convs(), SEEDS)
def test_random_convolutions(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(conv_transposes(), SEEDS)
def test_random_transposed_convolutions(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(upsamples(), SEEDS)
def test_random_upsamples(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(pools(), SEEDS)
def test_random_pools(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(recurrent(), SEEDS)
def test_random_recurrent_layers(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(cells(), SEEDS)
def test_random_cells(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(norms(), SEEDS)
def test_random_norms(config: tuple, seed: int) -> None:
    _check(config, seed)


@SETTINGS
@given(attention(), SEEDS)
def test_random_attention(config: tuple, seed: int) -> None:
    _check(config, seed)

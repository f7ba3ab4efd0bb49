"""Oracle table for the normalisation, embedding and attention ops (``NORM_OPS``).

The same :class:`~chainrule.testing.oracle.OpInfo` entries and generic checks as
:mod:`chainrule.testing.oracle` (gradcheck, forward vs reverse, double backward, NumPy
reference, PyTorch), for :mod:`chainrule.ops.norm` and :mod:`chainrule.ops.attention`:
``batch_norm`` in training and evaluation (with and without affine parameters, 2-D to
4-D), ``layer_norm`` over several normalised shapes, ``group_norm`` (one group, one channel
per group, groups without positions), ``instance_norm`` (input or running statistics),
``embedding`` with repeated indices (only the table is differentiated), ``normalize``
(p = 1, 2, 3), ``maxout``, ``scaled_dot_product_attention`` and
``multi_head_attention_forward`` (with and without masks and biases, ``batch_first`` both
ways, self-attention, unbatched).

PyTorch equivalents are ``torch.nn.functional.batch_norm / layer_norm / group_norm /
instance_norm / embedding / normalize / multi_head_attention_forward`` (the last is the
function ``nn.MultiheadAttention`` calls, so weights are plain tensors whose gradients
torch returns).

Running statistics and masks ride in the samples' keyword arguments, so they are never
differentiated; ``batch_norm`` in training updates its running statistics in place, so
the table's functions update fresh copies on every call (each call is pure).

Neither torch nor hypothesis is imported at module level.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.ops.attention import multi_head_attention_forward, scaled_dot_product_attention
from chainrule.ops.norm import (
    batch_norm,
    embedding,
    group_norm,
    instance_norm,
    layer_norm,
    maxout,
    normalize,
    rms_norm,
)
from chainrule.testing.oracle import OpInfo, Sample, _tm, away_from, distinct

# ---- chainrule side ---------------------------------------------------------------------


def _fresh(running: Any) -> tuple:
    """Copies of the running statistics (a sample's arrays are never mutated)."""
    if running is None:
        return None, None
    rm, rv = running
    return rm.copy() if hasattr(rm, "copy") else rm.clone(), (
        rv.copy() if hasattr(rv, "copy") else rv.clone()
    )


def _batch_norm(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    *,
    running: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Any:
    rm, rv = _fresh(running)
    return batch_norm(x, rm, rv, weight, bias, training=training, momentum=momentum, eps=eps)


def _layer_norm(
    x: Any, weight: Any = None, bias: Any = None, *, normalized_shape: Any, eps: float = 1e-5
) -> Any:
    return layer_norm(x, normalized_shape, weight, bias, eps=eps)


def _rms_norm(x: Any, weight: Any = None, *, normalized_shape: Any, eps: Any = None) -> Any:
    return rms_norm(x, normalized_shape, weight, eps)


def _group_norm(x: Any, weight: Any = None, bias: Any = None, *, num_groups: int) -> Any:
    return group_norm(x, num_groups, weight, bias)


def _instance_norm(x: Any, weight: Any = None, bias: Any = None, *, running: Any = None,
                   use_input_stats: bool = True, momentum: float = 0.1) -> Any:  # fmt: skip
    rm, rv = _fresh(running)
    return instance_norm(x, rm, rv, weight, bias, use_input_stats, momentum)


def _embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    return embedding(indices, weight, padding_idx=padding_idx)


def _sdpa(q: Any, k: Any, v: Any, attn_mask: Any = None, key_padding_mask: Any = None) -> Any:
    return scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, key_padding_mask=key_padding_mask, return_weights=True
    )


def _mha(
    q: Any, k: Any, v: Any, w_in: Any, w_out: Any, b_in: Any = None, b_out: Any = None, **kw: Any
) -> Any:
    out, w = multi_head_attention_forward(q, k, v, kw.pop("num_heads"), w_in, b_in, w_out,
                                          b_out, **kw)  # fmt: skip
    return out if w is None else (out, w)


def _mha_self(x: Any, w_in: Any, w_out: Any, b_in: Any = None, b_out: Any = None, **kw: Any) -> Any:
    """Self-attention: one tensor is query, key and value (the one-GEMM projection)."""
    return _mha(x, x, x, w_in, w_out, b_in, b_out, **kw)


# ---- torch side -------------------------------------------------------------------------


def _t_batch_norm(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    *,
    running: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Any:
    rm, rv = _fresh(running)
    return _tm().nn.functional.batch_norm(x, rm, rv, weight, bias, training=training,
                                          momentum=momentum, eps=eps)  # fmt: skip


def _t_layer_norm(
    x: Any, weight: Any = None, bias: Any = None, *, normalized_shape: Any, eps: float = 1e-5
) -> Any:
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return _tm().nn.functional.layer_norm(x, ns, weight, bias, eps=eps)


def _t_rms_norm(x: Any, weight: Any = None, *, normalized_shape: Any, eps: Any = None) -> Any:
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return _tm().nn.functional.rms_norm(x, ns, weight, eps=eps)


def _t_group_norm(x: Any, weight: Any = None, bias: Any = None, *, num_groups: int) -> Any:
    return _tm().nn.functional.group_norm(x, num_groups, weight, bias)


def _t_instance_norm(x: Any, weight: Any = None, bias: Any = None, *, running: Any = None,
                     use_input_stats: bool = True, momentum: float = 0.1) -> Any:  # fmt: skip
    rm, rv = _fresh(running)
    return _tm().nn.functional.instance_norm(x, rm, rv, weight, bias, use_input_stats, momentum)


def _t_embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    return _tm().nn.functional.embedding(indices, weight, padding_idx=padding_idx)


def _t_normalize(x: Any, p: float = 2, axis: int = 1, eps: float = 1e-12) -> Any:
    return _tm().nn.functional.normalize(x, p=p, dim=axis, eps=eps)


def _t_maxout(x: Any, pieces: int) -> Any:
    return x.reshape(*x.shape[:-1], -1, pieces).max(dim=-1).values


def _t_additive(mask: Any, dtype: Any) -> Any:
    """A chainrule-convention mask (bool True = masked out) as an additive float mask."""
    torch = _tm()
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def _t_sdpa(q: Any, k: Any, v: Any, attn_mask: Any = None, key_padding_mask: Any = None) -> Any:
    """Attention written out in torch (its SDPA returns no weights and reads bool masks
    the other way round)."""
    torch = _tm()
    scores = (q / q.shape[-1] ** 0.5) @ k.transpose(-1, -2)
    if attn_mask is not None:
        scores = scores + _t_additive(attn_mask, q.dtype)
    if key_padding_mask is not None:
        m = _t_additive(key_padding_mask, q.dtype)
        scores = scores + m.reshape(m.shape[0], *([1] * (scores.ndim - 2)), m.shape[1])
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def _t_mha(
    q: Any, k: Any, v: Any, w_in: Any, w_out: Any, b_in: Any = None, b_out: Any = None, **kw: Any
) -> Any:
    kw = dict(kw)
    num_heads, batch_first = kw.pop("num_heads"), kw.pop("batch_first", False)
    if batch_first and q.ndim == 3:
        q, k, v = (t.transpose(0, 1) for t in (q, k, v))
    with warnings.catch_warnings():  # torch deprecates mixing bool and float masks
        warnings.simplefilter("ignore", UserWarning)
        out, w = _tm().nn.functional.multi_head_attention_forward(
            q, k, v, q.shape[-1], num_heads, w_in, b_in, None, None, False, 0.0, w_out, b_out,
            training=False, **kw)  # fmt: skip
    if batch_first and q.ndim == 3:
        out = out.transpose(0, 1)
    return (out, w) if w is not None else out


def _t_mha_self(
    x: Any, w_in: Any, w_out: Any, b_in: Any = None, b_out: Any = None, **kw: Any
) -> Any:
    return _t_mha(x, x, x, w_in, w_out, b_in, b_out, **kw)


# ---- NumPy references --------------------------------------------------------------------


def _np_batch_norm(
    x: np.ndarray,
    weight: Any = None,
    bias: Any = None,
    *,
    running: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Any:
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = running[0].reshape(shape), running[1].reshape(shape)
    y = (x - mean) / np.sqrt(var + eps)
    y = y if weight is None else y * weight.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)


def _np_layer_norm(
    x: np.ndarray, weight: Any = None, bias: Any = None, *, normalized_shape: Any, eps: float = 1e-5
) -> Any:
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _np_rms_norm(x: np.ndarray, weight: Any = None, *, normalized_shape: Any,
                 eps: Any = None) -> Any:  # fmt: skip
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    ms = (x * x).mean(axis=tuple(range(x.ndim - k, x.ndim)), keepdims=True)
    y = x / np.sqrt(ms + (np.finfo(x.dtype).eps if eps is None else eps))
    return y if weight is None else y * weight


def _np_group_norm(x: np.ndarray, weight: Any = None, bias: Any = None, *,
                   num_groups: int) -> Any:  # fmt: skip
    """Group by group, as a loop over (sample, group) slices."""
    y = np.empty_like(x)
    size = x.shape[1] // num_groups
    for i in range(x.shape[0]):
        for k in range(num_groups):
            part = x[i, k * size : (k + 1) * size]
            y[i, k * size : (k + 1) * size] = (part - part.mean()) / np.sqrt(part.var() + 1e-5)
    shape = (-1,) + (1,) * (x.ndim - 2)
    y = y if weight is None else y * weight.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)


def _np_instance_norm(x: np.ndarray, weight: Any = None, bias: Any = None, *,
                      running: Any = None, use_input_stats: bool = True,
                      momentum: float = 0.1) -> Any:  # fmt: skip
    shape = (-1,) + (1,) * (x.ndim - 2)
    if use_input_stats:
        axes = tuple(range(2, x.ndim))
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = running[0].reshape(shape), running[1].reshape(shape)
    y = (x - mean) / np.sqrt(var + 1e-5)
    y = y if weight is None else y * weight.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)


def _np_embedding(indices: np.ndarray, weight: np.ndarray, padding_idx: Any = None) -> Any:
    return weight[indices]


def _np_normalize(x: np.ndarray, p: float = 2, axis: int = 1, eps: float = 1e-12) -> Any:
    norm = np.sum(np.abs(x) ** p, axis=axis, keepdims=True) ** (1 / p)
    return x / np.maximum(norm, eps)


def _np_maxout(x: np.ndarray, pieces: int) -> Any:
    return x.reshape(*x.shape[:-1], -1, pieces).max(axis=-1)


def _np_sdpa(q: Any, k: Any, v: Any, attn_mask: Any = None, key_padding_mask: Any = None) -> Any:
    s = (q / np.sqrt(q.shape[-1])) @ np.swapaxes(k, -1, -2)
    if attn_mask is not None:
        s = np.where(attn_mask, -np.inf, s) if attn_mask.dtype == bool else s + attn_mask
    if key_padding_mask is not None:
        m = key_padding_mask.reshape(key_padding_mask.shape[0], *([1] * (s.ndim - 2)), -1)
        s = np.where(m, -np.inf, s)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, w


# ---- sample inputs -----------------------------------------------------------------------


def _r(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def _bn_inputs(training: bool) -> Callable[[np.random.Generator], list[Sample]]:
    def gen(rng: np.random.Generator) -> list[Sample]:
        out = []
        # (shape, affine parts, note)
        for shape, parts in (((4, 3), 2), ((4, 3), 0), ((3, 2, 4), 2), ((2, 3, 2, 2), 2),
                             ((2, 2, 3, 2), 1), ((5, 1, 3), 2)):  # fmt: skip
            c = shape[1]
            x = _r(rng, shape) * 1.5 + 0.5
            params = tuple(_r(rng, (c,)) for _ in range(parts))
            running = (_r(rng, (c,)) * 0.3, 0.5 + rng.random(c))
            kw: dict = {"running": running, "training": training}
            if shape == (3, 2, 4):
                kw |= {"momentum": 0.3, "eps": 1e-3}
            affine = ["no affine", "weight only", "affine"][parts]
            note = f"{shape} {affine}" + (" momentum=0.3 eps=1e-3" if "eps" in kw else "")
            out.append(Sample((x, *params), kw, note=note))
        if training:  # training without running statistics (track_running_stats=False)
            out.append(Sample((_r(rng, (3, 2)), _r(rng, (2,)), _r(rng, (2,))), {"training": True},
                              note="(3, 2) affine, no running stats"))  # fmt: skip
        return out

    return gen


def _ln_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((3, 4), 4, 2), ((2, 3, 4), (3, 4), 2), ((2, 3, 4), (4,), 0), ((5,), 5, 2),
             ((2, 2, 3), (2, 3), 1), ((2, 1, 3), 3, 2)]  # fmt: skip
    out = []
    for shape, ns, parts in specs:
        nst = (ns,) if isinstance(ns, int) else ns
        params = tuple(_r(rng, nst) for _ in range(parts))
        out.append(Sample((_r(rng, shape) + 1.0, *params), {"normalized_shape": ns},
                          note=f"{shape} normalized_shape={ns} params={parts}"))  # fmt: skip
    return out


def _rms_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((3, 4), 4, 1, {}), ((2, 3, 4), (3, 4), 1, {"eps": 1e-3}), ((2, 3, 4), (4,), 0, {}),
             ((5,), 5, 1, {"eps": 0.5}), ((2, 1, 3), 3, 1, {})]  # fmt: skip
    out = []
    for shape, ns, parts, kw in specs:
        nst = (ns,) if isinstance(ns, int) else ns
        params = tuple(_r(rng, nst) for _ in range(parts))
        out.append(Sample((_r(rng, shape), *params), {"normalized_shape": ns, **kw},
                          note=f"{shape} normalized_shape={ns} weight={parts} {kw}"))  # fmt: skip
    return out


def _gn_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((2, 6, 3, 2), 3, 2), ((2, 4, 5), 1, 2), ((3, 4), 2, 1), ((1, 3, 2, 2), 3, 0),
             ((2, 4, 2, 1, 2), 2, 2)]  # fmt: skip
    out = []
    for shape, groups, parts in specs:
        params = tuple(_r(rng, shape[1:2]) for _ in range(parts))
        out.append(Sample((_r(rng, shape) + 1.0, *params), {"num_groups": groups},
                          note=f"{shape} num_groups={groups} params={parts}"))  # fmt: skip
    return out


def _in_inputs(rng: np.random.Generator) -> list[Sample]:
    def running(c: int) -> tuple:
        return _r(rng, (c,)) * 0.3, 0.5 + rng.random(c)

    return [
        Sample((_r(rng, (2, 3, 4)) + 1.0,), note="(2, 3, 4), no affine, no running stats"),
        Sample((_r(rng, (2, 2, 3, 2)), _r(rng, (2,)), _r(rng, (2,))),
               {"running": running(2), "momentum": 0.3}, note="affine, running stats updated"),
        Sample((_r(rng, (2, 3, 2, 2)), _r(rng, (3,)), _r(rng, (3,))),
               {"running": running(3), "use_input_stats": False}, note="running stats (eval)"),
    ]  # fmt: skip


def _embedding_inputs(rng: np.random.Generator) -> list[Sample]:
    a = np.array
    return [
        Sample((a([0, 2, 0, 1, 2, 2]), _r(rng, (4, 3))), note="repeated indices"),
        Sample((a([[1, 3], [3, 3], [0, 1]]), _r(rng, (5, 2))), note="2-D indices, repeats"),
        Sample((a(2), _r(rng, (3, 4))), note="0-d index"),
        Sample((a([[0], [2]], dtype=np.int32), _r(rng, (3, 1))), note="int32 indices, dim 1"),
    ]


def _embedding_padding_inputs(rng: np.random.Generator) -> list[Sample]:
    a = np.array
    return [
        Sample((a([0, 1, 0, 2]), _r(rng, (3, 2))), {"padding_idx": 0}, note="padding_idx=0"),
        Sample((a([[2, 1], [2, 2]]), _r(rng, (3, 2))), {"padding_idx": -1}, note="padding_idx=-1"),
    ]


def _normalize_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((3, 4), {}), ((3, 4), {"p": 1}), ((2, 3, 4), {"axis": -1}),
             ((2, 3, 4), {"p": 1, "axis": 0}), ((4,), {"axis": 0}), ((3, 4), {"p": 3}),
             ((2, 3), {"axis": 1, "eps": 1e-3})]  # fmt: skip
    return [Sample((_r(rng, s),), kw) for s, kw in specs]


def _maxout_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((2, 6), 3), ((2, 3, 4), 2), ((8,), 4), ((3, 5), 1), ((1, 4), 4)]
    return [Sample((_r(rng, s),), {"pieces": p}) for s, p in specs]


def _open_mask(rng: np.random.Generator, shape: tuple, p: float = 0.35) -> np.ndarray:
    """A bool mask (True = masked out) that never masks key 0 (no fully masked row)."""
    m = rng.random(shape) < p
    m[..., 0] = False
    return m


def _sdpa_inputs(rng: np.random.Generator) -> list[Sample]:
    out = [
        Sample((_r(rng, (3, 4)), _r(rng, (5, 4)), _r(rng, (5, 2))), note="unbatched"),
        Sample((_r(rng, (2, 3, 4)), _r(rng, (2, 5, 4)), _r(rng, (2, 5, 3))), note="batched"),
    ]
    q, k, v = _r(rng, (2, 2, 3, 4)), _r(rng, (2, 2, 4, 4)), _r(rng, (2, 2, 4, 2))
    out.append(Sample((q, k, v), {"attn_mask": _open_mask(rng, (3, 4))}, note="bool attn_mask"))
    out.append(Sample((q, k, v), {"attn_mask": _r(rng, (2, 1, 3, 4))}, note="float attn_mask"))
    out.append(Sample((q, k, v), {"key_padding_mask": _open_mask(rng, (2, 4))},
                      note="key_padding_mask"))  # fmt: skip
    out.append(Sample((q, k, v), {"attn_mask": _open_mask(rng, (2, 2, 3, 4)),
                                  "key_padding_mask": _open_mask(rng, (2, 4))},
                      note="both masks"))  # fmt: skip
    return out


E, H, L, S, N = 4, 2, 2, 3, 2  # embed_dim, heads, target and source length, batch


def _mha_weights(rng: np.random.Generator, bias: bool) -> tuple:
    w = (_r(rng, (3 * E, E)) * 0.5, _r(rng, (E, E)) * 0.5)
    return w + ((_r(rng, (3 * E,)), _r(rng, (E,))) if bias else ())


def _mha_inputs(rng: np.random.Generator) -> list[Sample]:
    """Layouts and biases: every check, double backward included."""
    qkv = (_r(rng, (L, N, E)), _r(rng, (S, N, E)), _r(rng, (S, N, E)))
    un = (_r(rng, (L, E)), _r(rng, (S, E)), _r(rng, (S, E)))
    kpm = {"num_heads": H, "key_padding_mask": _open_mask(rng, (S,))}
    return [
        Sample(qkv + _mha_weights(rng, True), {"num_heads": H}, note="(L, N, E)"),
        Sample(qkv + _mha_weights(rng, False), {"num_heads": H}, note="no bias"),
        Sample(un + _mha_weights(rng, True), kpm, note="unbatched, key_padding_mask"),
    ]


def _mha_variant_inputs(rng: np.random.Generator) -> list[Sample]:
    """Masks, batch_first, per-head weights, no weights (double backward is left to
    :func:`_mha_inputs`: masks only add constants to the same graph)."""
    out = []
    for bf in (False, True):
        qs, ks = ((N, L, E), (N, S, E)) if bf else ((L, N, E), (S, N, E))
        qkv = (_r(rng, qs), _r(rng, ks), _r(rng, ks))
        base = {"num_heads": H, "batch_first": bf}
        if bf:
            out.append(Sample(qkv + _mha_weights(rng, True), base, note="batch_first"))
        kw = base | {"attn_mask": _open_mask(rng, (L, S)),
                     "key_padding_mask": _open_mask(rng, (N, S))}  # fmt: skip
        out.append(Sample(qkv + _mha_weights(rng, True), kw, note=f"bool masks bf={bf}"))
    qkv = (_r(rng, (L, N, E)), _r(rng, (S, N, E)), _r(rng, (S, N, E)))
    kw = {"num_heads": 1, "attn_mask": _r(rng, (L, S)), "need_weights": False}
    out.append(Sample(qkv + _mha_weights(rng, True), kw, note="1 head, float mask, no weights"))
    kw = {"num_heads": H, "attn_mask": _open_mask(rng, (N * H, L, S)),
          "key_padding_mask": _r(rng, (N, S)), "average_attn_weights": False}  # fmt: skip
    out.append(Sample(qkv + _mha_weights(rng, True), kw,
                      note="(N*H, L, S) bool mask, float key_padding_mask, per-head"))  # fmt: skip
    return out


def _mha_self_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (L, N, E)), *_mha_weights(rng, True)), {"num_heads": H}, note="self"),
        Sample(
            (_r(rng, (N, L, E)), *_mha_weights(rng, True)),
            {"num_heads": H, "batch_first": True, "attn_mask": _open_mask(rng, (L, L))},
            note="self, batch_first, bool mask",
        ),
    ]


# ---- the table ---------------------------------------------------------------------------

NORM_OPS: list[OpInfo] = [
    OpInfo(name="batch_norm_train", fn=_batch_norm, torch_fn=_t_batch_norm,
           ref_fn=_np_batch_norm, inputs=_bn_inputs(True)),
    OpInfo(name="batch_norm_eval", fn=_batch_norm, torch_fn=_t_batch_norm,
           ref_fn=_np_batch_norm, inputs=_bn_inputs(False)),
    OpInfo(name="layer_norm", fn=_layer_norm, torch_fn=_t_layer_norm, ref_fn=_np_layer_norm,
           inputs=_ln_inputs),
    OpInfo(name="rms_norm", fn=_rms_norm, torch_fn=_t_rms_norm, ref_fn=_np_rms_norm,
           inputs=_rms_inputs),
    OpInfo(name="group_norm", fn=_group_norm, torch_fn=_t_group_norm, ref_fn=_np_group_norm,
           inputs=_gn_inputs),
    OpInfo(name="instance_norm", fn=_instance_norm, torch_fn=_t_instance_norm,
           ref_fn=_np_instance_norm, inputs=_in_inputs),
    OpInfo(name="embedding", fn=_embedding, torch_fn=_t_embedding, ref_fn=_np_embedding,
           inputs=_embedding_inputs),
    OpInfo(name="normalize", fn=normalize, torch_fn=_t_normalize, ref_fn=_np_normalize,
           inputs=_normalize_inputs, domain=away_from(0.0, margin=0.1)),
    OpInfo(name="maxout", fn=maxout, torch_fn=_t_maxout, ref_fn=_np_maxout,
           inputs=_maxout_inputs, domain=distinct(0.1)),
    OpInfo(name="scaled_dot_product_attention", fn=_sdpa, torch_fn=_t_sdpa, ref_fn=_np_sdpa,
           inputs=_sdpa_inputs),
    OpInfo(name="embedding_padding_idx", fn=_embedding, torch_fn=_t_embedding,
           ref_fn=_np_embedding, inputs=_embedding_padding_inputs,
           supports_gradcheck=False),  # the padding row's gradient is 0 on purpose
    OpInfo(name="multi_head_attention", fn=_mha, torch_fn=_t_mha, inputs=_mha_inputs),
    OpInfo(name="multi_head_attention_variants", fn=_mha, torch_fn=_t_mha,
           inputs=_mha_variant_inputs, supports_double=False),
    OpInfo(name="multi_head_self_attention", fn=_mha_self, torch_fn=_t_mha_self,
           inputs=_mha_self_inputs),
]  # fmt: skip

_BY_NAME = {op.name: op for op in NORM_OPS}


def get_norm_op(name: str) -> OpInfo:
    """The ``NORM_OPS`` entry called ``name``."""
    return _BY_NAME[name]


__all__ = ["NORM_OPS", "get_norm_op"]

"""Folding an eval-mode BatchNorm into the convolution or linear layer before it
(PyTorch's ``nn.utils.fusion``): one layer instead of two at inference, same outputs.

With ``s = bn.weight / sqrt(running_var + eps)`` per channel, ``bn(conv(x))`` equals a
convolution with weight ``W * s`` (scaled per output channel) and bias
``(b - running_mean) * s + bn.bias``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from chainrule.nn.module import Module, ModuleError
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = [
    "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
]  # fmt: skip


def _array(t: Any) -> Any:
    return None if t is None else (t.data if isinstance(t, Tensor) else np.asarray(t))


def _bn_scale_shift(bn_rm: Any, bn_rv: Any, bn_eps: float, bn_w: Any, bn_b: Any) -> tuple:
    """Per channel: ``s = w / sqrt(var + eps)`` and the running mean, weight and bias
    arrays (weight 1 and bias 0 where the BatchNorm has none)."""
    rm, rv = _array(bn_rm), _array(bn_rv)
    w = np.ones_like(rm) if bn_w is None else _array(bn_w)
    b = np.zeros_like(rm) if bn_b is None else _array(bn_b)
    return w / np.sqrt(rv + bn_eps), rm, b


def fuse_conv_bn_weights(conv_w: Tensor, conv_b: Tensor | None, bn_rm: Any, bn_rv: Any,
                         bn_eps: float, bn_w: Any, bn_b: Any,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:  # fmt: skip
    """The fused ``(weight, bias)`` Parameters (see the module docstring); ``transpose``
    for a transposed convolution, whose output channels are the weight's second axis."""
    scale, rm, b = _bn_scale_shift(bn_rm, bn_rv, bn_eps, bn_w, bn_b)
    w = conv_w.data
    axis = 1 if transpose else 0
    shape = [1] * w.ndim
    shape[axis] = -1
    bias = np.zeros_like(rm) if conv_b is None else conv_b.data
    fused_w = (w * scale.reshape(shape)).astype(w.dtype)
    fused_b = ((bias - rm) * scale + b).astype(w.dtype if conv_b is None else bias.dtype)
    bias_grad = conv_b is not None and conv_b.requires_grad  # a new zero bias: none, as torch
    return (Parameter(fused_w, requires_grad=conv_w.requires_grad),
            Parameter(fused_b, requires_grad=bias_grad))  # fmt: skip


def fuse_linear_bn_weights(linear_w: Tensor, linear_b: Tensor | None, bn_rm: Any, bn_rv: Any,
                           bn_eps: float, bn_w: Any,
                           bn_b: Any) -> tuple[Parameter, Parameter]:  # fmt: skip
    """:func:`fuse_conv_bn_weights` for a Linear: the weight's rows are its output features
    (a BatchNorm of one feature scales them all)."""
    return fuse_conv_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b)


def _check_eval(name: str, layer: Module, bn: Module, out_features: int) -> None:
    if layer.training or bn.training:
        raise ModuleError(f"{name}: fusion is for eval mode only; call .eval() on both "
                          f"modules first ({type(layer).__name__} training={layer.training}, "
                          f"{type(bn).__name__} training={bn.training})")  # fmt: skip
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise ModuleError(f"{name}: {type(bn).__name__} has no running statistics "
                          "(track_running_stats=False) to fold")  # fmt: skip
    n = bn.running_mean.shape[0]
    if n not in (out_features, 1):
        raise ModuleError(f"{name}: {type(bn).__name__} has {n} features, but "
                          f"{type(layer).__name__} has {out_features} outputs")  # fmt: skip


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A new convolution (a deep copy of ``conv``) that computes ``bn(conv(x))``; both in
    eval mode. ``transpose`` for a ConvTranspose layer."""
    out_channels = conv.weight.shape[1 if transpose else 0]
    _check_eval("fuse_conv_bn_eval", conv, bn, out_channels)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose,
    )  # fmt: skip
    return fused


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A new Linear (a deep copy of ``linear``) that computes ``bn(linear(x))`` for a
    BatchNorm over its output features (or over one feature); both in eval mode."""
    _check_eval("fuse_linear_bn_eval", linear, bn, linear.weight.shape[0])
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return fused

"""Weight and spectral normalisation as parametrizations (PyTorch's
``nn.utils.parametrizations``): ``weight_norm(m)`` and ``spectral_norm(m)`` make
``m.weight`` a tensor computed on every access (see :mod:`.parametrize`), with PyTorch's
state-dict keys, so weights move between the two libraries."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.nn.conv import _ConvTransposeNd
from chainrule.nn.module import Module
from chainrule.nn.utils.parametrize import (
    ParametrizationError,
    is_parametrized,
    register_parametrization,
)
from chainrule.tensor import Tensor

__all__ = ["ParametrizationDimError", "spectral_norm", "weight_norm"]


class ParametrizationDimError(ParametrizationError, IndexError):
    """A ``dim`` out of range for the tensor being normalised."""


def _check_dim(module: Module, name: str, weight: Tensor, dim: int, who: str) -> int:
    nd = weight.ndim
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise ParametrizationError(
            f"{who}: dim must be an int or None, got {type(dim).__name__} (for '{name}' of "
            f"{module._get_name()})"
        )
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise ParametrizationDimError(
            f"{who}: dim {dim} is out of range for '{name}' of {module._get_name()}, of shape "
            f"{tuple(weight.shape)} (expected a dim in [{-nd}, {nd - 1}], or None)"
        )
    return int(dim)


def _tensor_named(module: Module, name: str, who: str) -> Tensor:
    if not isinstance(module, Module):
        raise ParametrizationError(f"{who} needs an nn.Module, got {type(module).__name__}")
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        d = module.__dict__
        held = [k for k in (*d["_parameters"], *d["_buffers"]) if getattr(module, k) is not None]
        raise ParametrizationError(
            f"{who}: {module._get_name()} has no parameter or buffer named {name!r} (it has "
            f"{', '.join(map(repr, held)) or 'none'})"
        )
    return weight


# ---------------------------------------------------------------------------------------
# weight normalisation


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """PyTorch's ``norm_except_dim(v, 2, dim)``: the 2-norm over every axis but ``dim``, kept
    as size-1 axes; ``dim=-1`` is the norm of the whole tensor (0-d), as PyTorch's."""
    if dim == -1:
        return v.norm()
    axes = tuple(a for a in range(v.ndim) if a != dim)
    if not axes:
        return abs(v)
    return v.norm(axis=axes, keepdims=True)


class _WeightNorm(Module):
    """``w = g * v / ||v||``, the norm over all axes but ``dim`` (-1: over all axes)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def _axis(self, v: Tensor) -> int:
        return self.dim if self.dim >= -1 else self.dim + v.ndim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / _norm_except_dim(weight_v, self._axis(weight_v)))

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self._axis(weight)), weight

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation (Salimans & Kingma, 2016): ``module.<name>`` becomes
    ``g * v / ||v||``, computed on every access, the norm taken over every axis but ``dim``
    (``dim=None``: over the whole tensor, ``g`` a scalar). ``g`` is
    ``module.parametrizations.<name>.original0`` (shape 1 on all axes but ``dim``), ``v`` is
    ``original1``; both start so that the weight is unchanged. As in PyTorch, ``dim=-1``
    also means the whole tensor. Returns ``module``."""
    weight = _tensor_named(module, name, "weight_norm")
    if dim is not None:
        _check_dim(module, name, weight, dim, "weight_norm")
    if is_parametrized(module, name):
        raise ParametrizationError(
            f"weight_norm: '{name}' of {module._get_name()} is already parametrized "
            f"({', '.join(type(p).__name__ for p in module.parametrizations[name])}); weight "
            "normalisation needs the original tensor: call "
            "nn.utils.parametrize.remove_parametrizations first"
        )
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


# ---------------------------------------------------------------------------------------
# spectral normalisation


def _normalized(x: Any, eps: float) -> Any:
    xp = backend.array_module(x)
    n = xp.sqrt(xp.vdot(x, x).real)
    return x / max(float(n), eps)


class _SpectralNorm(Module):
    """``W / sigma``, ``sigma`` the largest singular value of ``W`` as a matrix (``dim`` first,
    the other axes flattened), estimated by power iteration with the buffers ``_u``, ``_v``;
    a 1-D weight is just normalised."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:  # fmt: skip
        super().__init__()
        nd = weight.ndim
        self.dim = dim if dim >= 0 else dim + nd
        self.eps = eps
        if nd > 1:
            self.n_power_iterations = n_power_iterations
            mat = weight.data if self.dim == 0 else np.moveaxis(weight.data, self.dim, 0)
            mat = mat.reshape(mat.shape[0], -1)
            h, w = mat.shape
            rng = backend.rng()
            u = rng.standard_normal(h).astype(mat.dtype)
            v = rng.standard_normal(w).astype(mat.dtype)
            u = backend.to_device(_normalized(u, eps), weight.device)
            v = backend.to_device(_normalized(v, eps), weight.device)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(mat, 15)

    def _matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.moveaxis(self.dim, 0)
        return weight.reshape((weight.shape[0], -1))

    def _power_method(self, mat: Any, n: int) -> None:
        """``n`` power iterations on the array ``mat``, updating ``_u`` and ``_v`` in place
        (not differentiated, as PyTorch's under no_grad)."""
        u, v = self._u, self._v
        for _ in range(n):
            u.data[...] = _normalized(mat @ v.data, self.eps)
            v.data[...] = _normalized(mat.conj().T @ u.data, self.eps)
        u._version[0] += 1
        v._version[0] += 1

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            from chainrule.nn import functional as F

            return F.normalize(weight, dim=0, eps=self.eps)
        mat = self._matrix(weight)
        if self.training:
            self._power_method(mat.data, self.n_power_iterations)
        u = Tensor(self._u.data.copy())
        v = Tensor(self._v.data.copy())
        sigma = (u * (mat @ v)).sum()
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:  # fmt: skip
    """Spectral normalisation (Miyato et al., 2018): ``module.<name>`` becomes ``W / sigma``,
    ``sigma`` the largest singular value of ``W`` seen as a matrix (axis ``dim`` by the rest;
    ``dim=None``: 1 for transposed convolutions, 0 otherwise), computed on every access.

    ``sigma`` is estimated by power iteration with the vectors ``_u`` and ``_v``, buffers of
    the parametrization (``module.parametrizations.<name>[0]``; state-dict keys
    ``parametrizations.<name>.0._u`` / ``._v``): drawn from chainrule's RNG, normalised and
    refined by 15 iterations at registration, then ``n_power_iterations`` more at each
    access in training mode only (frozen in eval mode). The iteration is not differentiated;
    ``sigma = u . (W v)`` is. ``W`` itself is ``parametrizations.<name>.original``. Returns
    ``module``."""
    weight = _tensor_named(module, name, "spectral_norm")
    if dim is None:
        dim = 1 if isinstance(module, _ConvTransposeNd) else 0
    dim = _check_dim(module, name, weight, dim, "spectral_norm")
    n = n_power_iterations
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ParametrizationError(
            "spectral_norm: n_power_iterations must be a positive int, got "
            f"{n_power_iterations!r} (for '{name}' of {module._get_name()})"
        )
    if weight.dtype.kind != "f":
        raise ParametrizationError(
            f"spectral_norm: '{name}' of {module._get_name()} has dtype {weight.dtype}; a "
            "floating tensor is needed"
        )
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module

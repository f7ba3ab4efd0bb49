"""Differentiation as functions: transforms over the autograd core, plus gradient checking,
recomputation (checkpoint), NaN tracing (detect_anomaly) and vmap."""

from chainrule.autodiff.anomaly import detect_anomaly
from chainrule.autodiff.checkpoint import checkpoint
from chainrule.autodiff.gradcheck import gradcheck, gradgradcheck
from chainrule.autodiff.inspect import graph_stats
from chainrule.autodiff.transforms import (
    grad,
    hessian,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
)
from chainrule.autodiff.vmap import vmap

__all__ = [
    "checkpoint", "detect_anomaly", "grad", "gradcheck", "gradgradcheck", "graph_stats",
    "hessian", "jacfwd", "jacobian", "jacrev", "jvp", "value_and_grad", "vjp", "vmap",
]  # fmt: skip

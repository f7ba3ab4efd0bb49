"""chainrule: a neural network is a graph of modules, and learning is the chain rule run
backwards through that graph.

``import chainrule as cr``; the public names are listed in ``__all__``.
"""

from chainrule import data, datasets, diagnostics, nn, ops, optim, train, viz
from chainrule.autodiff import (
    checkpoint,
    detect_anomaly,
    grad,
    gradcheck,
    gradgradcheck,
    hessian,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)
from chainrule.autograd import Function, enable_grad, is_grad_enabled, no_grad
from chainrule.backend import bool_ as bool
from chainrule.backend import float32, float64, int64, manual_seed
from chainrule.creation import (
    arange,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.errors import (
    AnomalyError,
    ChainruleError,
    CheckpointError,
    DeviceError,
    DTypeError,
    GradcheckError,
    GraphError,
    IndexingError,
    ShapeError,
)
from chainrule.io import load, save
from chainrule.ops import (
    abs,
    arccos,
    arcsin,
    arctan,
    cat,
    clip,
    clone,
    concatenate,
    cos,
    cosh,
    cumsum,
    einsum,
    exp,
    expand,
    expm1,
    flatten,
    flip,
    gather,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    pad,
    relu,
    repeat_interleave,
    reshape,
    roll,
    sigmoid,
    sin,
    sinh,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    swapaxes,
    take_along_axis,
    tan,
    tanh,
    tile,
    transpose,
    tril,
    triu,
    unsqueeze,
    var,
    vector_norm,
    where,
)
from chainrule.tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "AnomalyError", "ChainruleError", "CheckpointError", "DTypeError", "DeviceError", "Function",
    "GradcheckError", "GraphError", "IndexingError", "ShapeError", "Tensor", "abs", "arange",
    "arccos", "arcsin", "arctan", "bool", "cat", "checkpoint", "clip", "clone", "concatenate",
    "cos", "cosh", "cumsum", "data", "datasets", "detect_anomaly", "diagnostics", "einsum",
    "enable_grad", "exp", "expand", "expm1", "flatten", "flip", "float32", "float64", "full",
    "gather", "grad", "gradcheck", "gradgradcheck", "hessian", "int64", "is_grad_enabled",
    "jacobian", "jvp", "load", "log", "log1p", "log_softmax", "logsumexp", "manual_seed", "matmul",
    "max", "maximum", "mean", "min", "minimum", "nn", "no_grad", "ones", "ones_like", "ops",
    "optim", "pad", "rand", "randn", "relu", "repeat_interleave", "reshape", "roll", "save",
    "sigmoid", "sin", "sinh", "softmax", "split", "sqrt", "squeeze", "stack", "std", "sum",
    "swapaxes", "take_along_axis", "tan", "tanh", "tensor", "tile", "train", "transpose", "tril",
    "triu", "unsqueeze", "value_and_grad", "var", "vector_norm", "viz", "vjp", "where", "zeros",
    "zeros_like",
]  # fmt: skip

"""``chainrule.nn``: modules, containers, layers and initialisers (PyTorch's layout).

A module maps inputs to outputs, owns its parameters and knows its backward pass: after
``y = m(x)``, ``m.backward(dL_dy)`` returns ``dL_dx`` and accumulates every parameter's
gradient. See :class:`Module`.
"""

from chainrule.nn import functional, init, utils
from chainrule.nn.activation import (
    ELU,
    GELU,
    HardTanh,
    LeakyReLU,
    LogSoftmax,
    NoisyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.containers import Add, Concat, ModuleDict, ModuleList, Multiply, Sequential
from chainrule.nn.graph import Graph, GraphBuildError
from chainrule.nn.layers import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Embedding,
    LayerNorm,
    Maxout,
    Normalize,
)
from chainrule.nn.linear import Flatten, Identity, Linear
from chainrule.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HingeLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from chainrule.nn.module import (
    IncompatibleKeys,
    Module,
    ModuleError,
    ModuleNameError,
    ModuleTypeError,
    RemovableHandle,
    StateDictError,
)
from chainrule.nn.parameter import Parameter

__all__ = [
    "ELU", "GELU", "Add", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
    "Concat", "CrossEntropyLoss", "Dropout", "Embedding", "Flatten", "Graph",
    "GraphBuildError", "HardTanh", "HingeLoss", "HuberLoss", "Identity", "IncompatibleKeys",
    "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Maxout",
    "Module", "ModuleDict", "ModuleError", "ModuleList", "ModuleNameError", "ModuleTypeError",
    "MultiheadAttention", "Multiply", "NLLLoss", "NoisyReLU", "Normalize", "Parameter",
    "ReLU", "RemovableHandle", "Sequential", "Sigmoid", "Softmax", "Softplus",
    "StateDictError", "Tanh", "functional", "init", "utils",
]  # fmt: skip

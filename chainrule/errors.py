"""The error classes chainrule raises on purpose.

Each subclasses :class:`ChainruleError` and the built-in class that fits, so
``except ValueError`` keeps working for callers that do not know chainrule.
"""


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Incompatible shapes; the message names the op and both shapes."""


class DTypeError(ChainruleError, TypeError):
    """A tensor of the wrong dtype (e.g. an integer tensor asked to require grad)."""


class GraphError(ChainruleError, RuntimeError):
    """Misuse of the autograd graph: a freed graph, a stale saved tensor, a bad root."""


class DeviceError(ChainruleError, RuntimeError):
    """Tensors on different devices (CPU and CUDA) met in one op; names the op and both."""


class GradcheckError(ChainruleError, AssertionError):
    """Analytic and numerical derivatives disagree; names the input, index and values."""


class AnomalyError(ChainruleError, FloatingPointError):
    """A NaN or Inf appeared under ``detect_anomaly``; names the op and the source line."""


class CheckpointError(ChainruleError, ValueError):
    """An unreadable, truncated, tampered or unsafe file."""


class IndexingError(ChainruleError, IndexError):
    """An index out of range, or of a kind a tensor cannot be indexed with."""

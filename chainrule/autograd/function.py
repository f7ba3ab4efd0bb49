"""Function and Node: how an op records itself in the graph.

An op is a :class:`Function` subclass with three static rules in one place:

* ``forward(ctx, *arrays, **params)`` computes on raw arrays and may call
  ``ctx.save_for_backward(...)``;
* ``backward(ctx, *grads)`` returns one gradient per positional input (the vjp);
* ``jvp(ctx, *tangents)`` returns the output tangent(s) (forward mode).

``Fn.apply(*inputs, **params)`` runs forward and, when an input requires grad, records a
:class:`Node` (which is also the ``ctx`` the rules see). Positional inputs are the
operands (Tensors, arrays or Python numbers); keyword params are static (axis, shape...).

Built-in ops set ``array_rules = True``: their backward and jvp are written against
``ctx.xp``, a NumPy-like namespace. On the fast path (``create_graph=False``) ``ctx.xp``
holds array functions and rules see raw arrays; with ``create_graph=True`` it is
``chainrule.ops`` and rules see Tensors, so the same rule builds a differentiable graph.
User Functions always see Tensors, as the public API promises.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from chainrule import backend
from chainrule.autograd.mode import state
from chainrule.errors import GraphError
from chainrule.tensor import Tensor, wrap

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Node:
    """One recorded op application: the ``ctx`` of its rules and a vertex of the graph.

    ``parents[i]`` says where the gradient of input ``i`` goes: ``None`` (nowhere), a
    leaf Tensor (its ``.grad``), a Node (single-output parent) or ``(Node, k)`` (output
    ``k`` of a multi-output parent).
    """

    __slots__ = (
        "fn", "parents", "needs_input_grad", "n_outputs", "xp", "graph_mode",
        "_saved", "_saved_from", "_versions", "released", "created_at", "grad_norm",
        "out_shape", "out_dtype", "__dict__",
    )  # fmt: skip

    def __init__(self, fn: type, parents: tuple, needs_input_grad: tuple) -> None:
        self.fn = fn
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.n_outputs = 1
        self.xp = None
        self.graph_mode = False
        self._saved = ()
        self._saved_from = None
        self._versions = None
        self.released = False
        self.created_at = None
        self.grad_norm = None

    @property
    def name(self) -> str:
        return self.fn.op_name()

    def save_for_backward(self, *values: Any) -> None:
        """Keep inputs, outputs or constants (masks, indices) for backward and jvp."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """What forward saved: Tensors in graph mode, raw arrays on the fast path."""
        if not self.graph_mode:
            return self._saved
        if self.released:
            raise _released_error(self)
        return tuple(self._as_tensor(i) for i in range(len(self._saved)))

    saved = saved_tensors

    def _as_tensor(self, i: int) -> Any:
        value = self._saved[i]
        where = self._saved_from[i] if self._saved_from else None
        if where is None:  # a constant, or a Python number
            return wrap(value) if backend.is_array(value) else value
        kind, k = where
        if kind == "out":  # an output of this node: reconnect it to the node
            return wrap(value, True, self, k)
        parent = self.parents[k]
        if parent is None:
            return wrap(value)
        if isinstance(parent, Tensor):  # a leaf
            return parent
        node, idx = parent if isinstance(parent, tuple) else (parent, 0)
        return wrap(value, True, node, idx)

    def check_versions(self) -> None:
        if self._versions is None:
            return
        for box, version in self._versions:
            if box[0] != version:
                raise GraphError(
                    f"a tensor saved by '{self.name}' for backward was modified in place "
                    f"(its version is {box[0]}, expected {version}); clone it before the "
                    "in-place op, or do the in-place op outside the graph"
                )

    def release(self) -> None:
        self._saved = ()
        self._saved_from = None
        self._versions = None
        self.released = True
        self.__dict__.clear()


class _NullContext:
    """The ctx of ops that record nothing: saving and attributes are dropped."""

    __slots__ = ()
    needs_input_grad = ()

    def save_for_backward(self, *values: Any) -> None:
        pass

    def __setattr__(self, name: str, value: Any) -> None:
        pass


_NULL = _NullContext()


def _released_error(node: Node) -> GraphError:
    return GraphError(
        f"trying to backward through '{node.name}' a second time: its saved tensors were "
        "freed after the first backward; pass retain_graph=True to the first backward"
    )


def user_source_line() -> str:
    """'file:line: code' of the innermost stack frame outside chainrule."""
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return f"{frame.filename}:{frame.lineno}: {frame.line}"
    return "<unknown>"


class Function:
    """Base class of every differentiable op; subclass it for a custom op.

    Example::

        class Square(cr.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        y = Square.apply(t)
    """

    array_rules = False  # True for built-ins whose rules run on raw arrays or Tensors
    view = False  # True when output 0 may share memory with input 0

    @staticmethod
    def forward(ctx: Any, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def op_name(cls) -> str:
        return getattr(cls, "name", None) or cls.__name__.lower()

    @classmethod
    def apply(cls, *args: Any, **params: Any) -> Any:
        grad = False
        tangent = False
        arrays = []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    grad = True
                if a._tangent is not None:
                    tangent = True
            else:
                arrays.append(a)
        grad = grad and state.grad_enabled
        tangent = tangent and state.forward_active
        if not grad and not tangent and not state.anomaly:
            out = cls.forward(_NULL, *arrays, **params)
            if type(out) is tuple:
                return tuple(wrap(o) for o in out)
            return wrap(out)
        return _apply_recorded(cls, args, arrays, params, grad, tangent)


def _apply_recorded(
    cls: type, args: tuple, arrays: list, params: dict, grad: bool, tangent: bool
) -> Any:
    """The slow half of ``apply``: record a node, propagate tangents, check for anomalies."""
    parents = []
    needs = []
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad and grad:
            needs.append(True)
            node = a._node
            if node is None:
                parents.append(a)
            elif node.n_outputs == 1:
                parents.append(node)
            else:
                parents.append((node, a._index))
        else:
            needs.append(False)
            parents.append(None)
    node = Node(cls, tuple(parents), tuple(needs))
    node.xp = backend.ops_for(arrays[0] if arrays else None)
    if state.anomaly:
        node.created_at = user_source_line()
    out = cls.forward(node, *arrays, **params)
    multi = type(out) is tuple
    outs = out if multi else (out,)
    node.n_outputs = len(outs)
    node.out_shape, node.out_dtype = getattr(outs[0], "shape", ()), getattr(outs[0], "dtype", None)
    if multi:  # the engine fills gradients of unused outputs with zeros
        node.out_meta = tuple((o.shape, o.dtype, backend.array_module(o)) for o in outs)
    if not cls.array_rules:  # user rules get their gradient shapes checked
        node.in_shapes = tuple(getattr(a, "shape", None) for a in arrays)
    if grad:
        _map_saved(node, args, arrays, outs)
        results = [wrap(o, True, node, k) for k, o in enumerate(outs)]
        if cls.view and isinstance(args[0], Tensor):
            _share_version(args[0], arrays[0], results)
    else:
        results = [wrap(o) for o in outs]
    if tangent:
        _propagate_tangents(cls, node, args, arrays, results)
    if state.anomaly:
        from chainrule.autodiff.anomaly import check_forward

        check_forward(node, outs)
    if not grad:
        node.release()
    return tuple(results) if multi else results[0]


def _share_version(source: Tensor, array: Any, results: list) -> None:
    """Views share their base's version counter, so an in-place write to either is seen."""
    for r in results:
        base = r.data.base
        if base is not None and (base is array or base is array.base):
            r._version = source._version


def _map_saved(node: Node, args: tuple, arrays: list, outs: tuple) -> None:
    """Note which saved values are inputs or outputs, and their versions, for later checks."""
    if not node._saved:
        return
    where = []
    versions = []
    for value in node._saved:
        found = None
        for k, o in enumerate(outs):
            if value is o:
                found = ("out", k)
                break
        else:
            for k, a in enumerate(arrays):
                if value is a and isinstance(args[k], Tensor):
                    found = ("in", k)
                    versions.append((args[k]._version, args[k]._version[0]))
                    break
        where.append(found)
    node._saved_from = tuple(where)
    if versions:
        node._versions = versions


def _propagate_tangents(cls: type, node: Node, args: tuple, arrays: list, results: list) -> None:
    tangents = []
    for a, arr in zip(args, arrays):
        if isinstance(a, Tensor):
            t = a._tangent
            tangents.append(t if t is not None else node.xp.zeros_like(arr))
        else:
            tangents.append(0)
    if cls.array_rules:
        node.graph_mode = False
        out = cls.jvp(node, *tangents)
    else:  # a user Function: its jvp sees Tensors, as documented
        node.graph_mode = True
        node.xp = _graph_namespace()
        from chainrule.autograd.mode import no_grad

        with no_grad():
            out = cls.jvp(node, *(wrap(t) for t in tangents))
        out = tuple(o.data for o in out) if type(out) is tuple else out.data
    outs = out if type(out) is tuple else (out,)
    for r, t in zip(results, outs):
        t = t.data if isinstance(t, Tensor) else t
        if getattr(t, "shape", None) != r.shape:  # a constant operand broadcast the output
            t = backend.array_module(r.data).broadcast_to(t, r.shape)
        r._tangent = t


def _graph_namespace() -> Any:
    from chainrule.ops import graph_ops

    return graph_ops


class Op(Function):
    """A built-in op: its backward runs on raw arrays or on Tensors through ``ctx.xp``,
    and its jvp always runs on raw arrays."""

    array_rules = True

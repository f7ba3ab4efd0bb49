"""Function and Node: how an op records itself in the graph.

An op is a :class:`Function` subclass with three static rules in one place:

* ``forward(ctx, *arrays, **params)`` computes on raw arrays and may call
  ``ctx.save_for_backward(...)``;
* ``backward(ctx, *grads)`` returns one gradient per positional input (the vjp);
* ``jvp(ctx, *tangents)`` returns the output tangent(s) (forward mode).

``Fn.apply(*inputs, **params)`` runs forward and, when an input requires grad, records a
:class:`Node` (which is also the ``ctx`` the rules see). Positional inputs are the
operands (Tensors, arrays or Python numbers); keyword params are static (axis, shape...).

Built-in ops subclass :class:`Op`: their backward is written against ``ctx.xp``, a
NumPy-like namespace. On the fast path (``create_graph=False``) ``ctx.xp`` holds array
functions and ``ctx.saved`` raw arrays; with ``create_graph=True`` the engine swaps in
``chainrule.ops.graph_ops`` and Tensors, so the same rule records a differentiable graph.
User Functions always see Tensors, as the public API promises. jvp rules of built-ins
always run on raw arrays.
"""

from __future__ import annotations

import itertools
import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.mode import state
from chainrule.errors import DeviceError, GraphError
from chainrule.tensor import Tensor, to_array, wrap

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_node_numbers = itertools.count()
_LITERALS = (list, tuple)  # operands written as Python lists become arrays (float32/int64)


class Node:
    """One recorded op application: the ``ctx`` of its rules and a vertex of the graph.

    ``parents[i]`` says where the gradient of input ``i`` goes: ``None`` (nowhere), a
    leaf Tensor (its ``.grad``), a Node (single-output parent) or ``(Node, k)`` (output
    ``k`` of a multi-output parent). Op-specific attributes (``ctx.axis = ...``) live in
    the instance dict and are dropped by :meth:`release`.
    """

    __slots__ = (
        "fn", "parents", "needs_input_grad", "n_outputs", "seq", "released", "saved", "saved_from",
        "versions", "out_shape", "out_dtype", "grad_norm", "hooks", "__dict__",
    )  # fmt: skip

    # Rarely set; class-level defaults keep node creation cheap.
    xp = backend.numpy_ops
    graph_mode = False
    created_at: str | None = None
    in_shapes: tuple | None = None

    def __init__(self, fn: type, parents: tuple, needs_input_grad: tuple) -> None:
        self.fn = fn
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.n_outputs = 1
        self.seq = next(_node_numbers)  # creation order: a topological order of the graph
        self.released = False
        self.saved = ()
        self.saved_from = None
        self.versions = None
        self.hooks = None  # output index -> its tensor hooks (autograd.hooks)

    @property
    def name(self) -> str:
        return self.fn.op_name()

    def save_for_backward(self, *values: Any) -> None:
        """Keep inputs, outputs or constants (masks, indices) for backward and jvp."""
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        """What forward saved (Tensors inside the rules of a user Function)."""
        return self.saved

    def run_on_tensors(self, rule: Callable, *args: Any) -> Any:
        """Call ``rule(self, *args)`` with ``ctx.saved`` as Tensors and ``ctx.xp`` the
        differentiable namespace: the graph mode of a rule."""
        raw = self.saved
        self.saved = tuple(self._as_tensor(i) for i in range(len(raw)))
        self.xp, self.graph_mode = _graph_namespace(), True
        try:
            return rule(self, *args)
        finally:
            self.saved = raw
            del self.xp, self.graph_mode

    def _as_tensor(self, i: int) -> Any:
        value = self.saved[i]
        where = self.saved_from[i] if self.saved_from else None
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
        node, idx = parent if type(parent) is tuple else (parent, 0)
        return wrap(value, True, node, idx)

    def check_versions(self) -> None:
        for box, version in self.versions:
            if box[0] != version:
                raise GraphError(
                    f"a tensor saved by '{self.name}' for backward was modified in place "
                    f"(its version is {box[0]}, expected {version}); clone it before the "
                    "in-place op, or do the in-place op outside the graph"
                )

    def release(self) -> None:
        """Free what backward needed; the node stays in the graph as a tombstone."""
        self.saved = ()
        self.saved_from = None
        self.versions = self.hooks = None
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


def released_error(node: Node) -> GraphError:
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
    view = False  # True when outputs may share memory with input 0
    # True when forward saves its two operands and backward reads each one only for the
    # other's gradient (mul, matmul): an operand's in-place changes are then checked only
    # when the other needs a gradient, as PyTorch saves it only then
    reads_other_operand = False
    simple = False  # set for each subclass by __init_subclass__

    @staticmethod
    def forward(ctx: Any, *args: Any, **params: Any) -> Any:
        raise GraphError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise GraphError(f"op '{ctx.name}' defines no backward, so reverse mode cannot pass it")

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise GraphError(f"op '{ctx.name}' has no jvp rule, so forward mode cannot pass it")

    @classmethod
    def write_back(cls, view: Tensor, base: Tensor, params: dict, k: int) -> tuple:
        """For a view op: ``(index, value)`` such that ``base[index] = value`` puts output
        ``k`` (``view``, written in place) back into ``base``."""
        raise GraphError(f"an in-place write through a view made by '{cls.op_name()}' "
                         "cannot reach its base")  # fmt: skip

    @classmethod
    def op_name(cls) -> str:
        return getattr(cls, "name", None) or cls.__name__.lower()

    @classmethod
    def apply(cls, *args: Any, **params: Any) -> Any:
        arrays = []
        record = False
        st = state
        for a in args:
            if isinstance(a, Tensor):
                if (a._base is not None and a._version[0] != a._base[4]
                        and (st.grad_enabled or st.forward_active)):  # fmt: skip
                    a._refresh_view()  # Tensor._refresh_if_stale, inlined (hot path)
                arrays.append(a.data)
                if a.requires_grad:
                    record = True
            else:
                arrays.append(to_array(a) if type(a) in _LITERALS else a)
        record = record and st.grad_enabled
        if not (record or st.forward_active or st.anomaly):
            try:
                out = cls.forward(_NULL, *arrays, **params)
            except TypeError:  # CuPy's answer to a NumPy operand, among others
                check_same_device(cls, arrays)
                raise
            if cls.view and isinstance(args[0], Tensor):
                results = [wrap(o) for o in (out if type(out) is tuple else (out,))]
                _share_version(args[0], arrays[0], results, cls, params)
                return tuple(results) if type(out) is tuple else results[0]
            if type(out) is tuple:
                return tuple(wrap(o) for o in out)
            return wrap(out)
        parents = []  # where each input's gradient goes: gradient_parent, inlined
        needs = []
        for a in args:
            if record and isinstance(a, Tensor) and a.requires_grad:
                node = a._node
                if node is None:
                    parents.append(a)
                elif node.n_outputs == 1:
                    parents.append(node)
                else:
                    parents.append((node, a._index))
                needs.append(True)
            else:
                parents.append(None)
                needs.append(False)
        if not cls.simple or st.forward_active or st.anomaly or backend._cupy:
            return apply_recorded(cls, args, arrays, parents, needs, params, record)
        # The common case, kept short: a built-in op with one output, recorded.
        node = Node(cls, parents, needs)
        out = cls.forward(node, *arrays, **params)
        if type(out) is tuple:  # an op that may return several outputs did
            return finish_recording(node, args, arrays, out)
        node.out_shape, node.out_dtype = out.shape, out.dtype
        y = wrap(out, True, node)
        if node.saved:
            _map_saved(node, args, arrays, (out,), (y,))
        return y

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ``apply`` records these on its short path; the rest go through apply_recorded
        cls.simple = cls.array_rules and not cls.view


class Op(Function):
    """A built-in op: its backward runs on raw arrays or on Tensors through ``ctx.xp``,
    and its jvp always runs on raw arrays."""

    array_rules = True


def apply_recorded(
    cls: type, args: tuple, arrays: list, parents: list, needs: list, params: dict, grad: bool
) -> Any:
    """The general half of ``apply``: make a node, and record it when ``grad``; propagate
    tangents in forward mode; check for NaN/Inf under detect_anomaly."""
    node = Node(cls, parents, tuple(needs))
    if backend._cupy is not None:
        node.xp = backend.ops_for(next((a for a in arrays if backend.is_array(a)), None))
    if state.anomaly:
        node.created_at = user_source_line()
    if not cls.array_rules:  # user rules get their gradient shapes checked
        node.in_shapes = tuple(getattr(a, "shape", None) for a in arrays)
    try:
        out = cls.forward(node, *arrays, **params)
    except TypeError:
        check_same_device(cls, arrays)
        raise
    if not cls.array_rules:  # a user forward may return Python numbers or lists
        out = tuple(map(_as_output, out)) if type(out) is tuple else _as_output(out)
    return finish_recording(node, args, arrays, out, grad, params)


def gradient_parent(t: Tensor) -> Any:
    """Where the gradient of ``t`` goes when a node takes it as an input (``Node.parents``):
    None if it does not require grad, the leaf itself, its node, or ``(node, k)`` for
    output ``k`` of a node with several outputs."""
    if not t.requires_grad:
        return None
    node = t._node
    if node is None:
        return t
    return node if node.n_outputs == 1 else (node, t._index)


def check_same_device(cls: type, arrays: Sequence[Any]) -> None:
    """Raise DeviceError naming the op and each input's device and shape when the array
    inputs of ``cls`` live on different devices (checked only after a forward failed, so
    the common path pays nothing). 0-d NumPy arrays (Python numbers) go anywhere."""
    on = [(i, backend.device_of(a), a.shape) for i, a in enumerate(arrays) if backend.is_array(a)]
    on = [(i, d, s) for i, d, s in on if s != () or d != "cpu"]
    if len({d for _, d, _ in on}) > 1:
        where = ", ".join(f"input {i} on {d} with shape {s}" for i, d, s in on)
        raise DeviceError(
            f"{cls.op_name()}: inputs are on different devices ({where}); move them to one "
            "device first, e.g. with .to('cuda')"
        ) from None


def _as_output(x: Any) -> Any:
    return x if backend.is_array(x) else to_array(x)


def finish_recording(node: Node, args: tuple, arrays: list, out: Any, grad: bool = True,
                     params: dict | None = None) -> Any:  # fmt: skip
    """Wrap ``out`` (an array or a tuple of them) in Tensors made by ``node``."""
    multi = type(out) is tuple
    outs = out if multi else (out,)
    first = outs[0]
    node.out_shape, node.out_dtype = first.shape, first.dtype
    if multi:  # the engine fills gradients of unused outputs with zeros
        node.n_outputs = len(outs)
        node.out_meta = tuple((o.shape, o.dtype, backend.array_module(o)) for o in outs)
    if grad:
        results = [wrap(o, True, node, k) for k, o in enumerate(outs)]
    else:
        results = [wrap(o) for o in outs]
    if node.fn.view and isinstance(args[0], Tensor):
        _share_version(args[0], arrays[0], results, node.fn, params or {})
    if grad and node.saved:
        _map_saved(node, args, arrays, outs, results)
    if state.forward_active and any(isinstance(a, Tensor) and a._tangent is not None for a in args):
        _propagate_tangents(node.fn, node, args, arrays, results)
    if state.anomaly:
        from chainrule.autodiff.anomaly import check_forward

        check_forward(node, outs)
    if not grad:
        node.release()
    return tuple(results) if multi else results[0]


def _share_version(source: Tensor, array: Any, results: list, cls: type, params: dict) -> None:
    """Views share their base's version counter, so an in-place write to either is seen,
    and remember their base, so a recorded write through them reaches its history."""
    for k, r in enumerate(results):
        base = r.data.base
        if base is not None and (base is array or base is array.base):
            r._version = source._version
            r._base = (source, cls, params, k, source._version[0])


def _map_saved(node: Node, args: tuple, arrays: list, outs: tuple, results: Any) -> None:
    """Note which saved values are inputs or outputs (so graph mode can reconnect them)
    and the versions of saved inputs and outputs (so an in-place write is caught in
    backward)."""
    saved = node.saved
    if len(saved) == 2 == len(arrays) and saved[0] is arrays[0] and saved[1] is arrays[1]:
        # the usual saved pair: both operands (mul, div, matmul...), kept short; an
        # operand that is not a Tensor (``y * 2.0``) is a constant, with no version
        a, b = args
        other = node.fn.reads_other_operand  # then a's value matters only if b needs grad
        if isinstance(a, Tensor):
            if isinstance(b, Tensor):
                node.saved_from = _SAVED_INPUTS01
                va, vb = (a._version, a._version[0]), (b._version, b._version[0])
                if not other:
                    node.versions = (va, vb)
                else:
                    na, nb = node.needs_input_grad
                    node.versions = (va, vb) if na and nb else (va,) if nb else (vb,)
            else:
                node.saved_from = _SAVED_INPUT0
                node.versions = () if other else ((a._version, a._version[0]),)
        elif isinstance(b, Tensor):
            node.saved_from = _SAVED_INPUT1
            node.versions = () if other else ((b._version, b._version[0]),)
        else:
            node.saved_from, node.versions = (None, None), ()
        return
    where = []
    versions = []
    for value in saved:
        if value is outs[0]:  # the usual saved output (exp, tanh, softmax...)
            where.append(_OUTPUT0)
            versions.append((results[0]._version, 0))
            continue
        found = None
        for k, a in enumerate(arrays):
            if value is a:
                t = args[k]
                if isinstance(t, Tensor):
                    found = ("in", k)
                    versions.append((t._version, t._version[0]))
                break
        else:
            for k in range(1, len(outs)):
                if value is outs[k]:
                    found = ("out", k)
                    versions.append((results[k]._version, 0))
                    break
        where.append(found)
    node.saved_from = where
    node.versions = versions


_OUTPUT0 = ("out", 0)
_SAVED_INPUTS01 = (("in", 0), ("in", 1))
_SAVED_INPUT0 = (("in", 0), None)
_SAVED_INPUT1 = (None, ("in", 1))


def _propagate_tangents(cls: type, node: Node, args: tuple, arrays: list, results: list) -> None:
    tangents = []
    for a, arr in zip(args, arrays):
        if isinstance(a, Tensor):
            t = a._tangent
            tangents.append(t if t is not None else node.xp.zeros_like(arr))
        elif backend.is_array(arr):  # a constant array: a zero of its shape
            tangents.append(node.xp.zeros_like(arr))  # (matmul and concatenate need one)
        else:  # a Python number
            tangents.append(0)
    if cls.array_rules:
        out = cls.jvp(node, *tangents)
    else:  # a user Function: its jvp sees Tensors, as documented
        from chainrule.autograd.mode import no_grad

        with no_grad():
            out = node.run_on_tensors(cls.jvp, *(wrap(t) for t in tangents))
    outs = out if type(out) is tuple else (out,)
    for r, t in zip(results, outs):
        t = t.data if isinstance(t, Tensor) else t
        if getattr(t, "shape", None) != r.shape:  # a constant operand broadcast the output
            t = backend.array_module(r.data).broadcast_to(t, r.shape)
        elif not backend.is_array(t):  # a NumPy scalar from a full reduction: make it 0-d
            t = backend.array_module(r.data).asarray(t)
        r._tangent = t


def _graph_namespace() -> Any:
    from chainrule.ops import graph_ops

    return graph_ops

"""vmap: ``torch.func.vmap`` (JAX's ``vmap``) for chainrule, as a loop.

chainrule's ops already take batched arrays, so there is no batching rule to write: ``vmap``
calls ``func`` once per index of the mapped dimension, on the inputs with that dimension
taken out, and stacks the results along ``out_dims``. The slicing (one ``split``) and the
stacking are differentiable ops, so a vmapped function composes with every transform
(``vmap(grad(f))``, ``grad`` of a vmap, ``jacrev``, ``jvp``, ``vmap(vmap(f))``).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend, ops
from chainrule.errors import GraphError, ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, to_array, wrap

RANDOMNESS = ("error", "different", "same")
_LEAF = None  # the spec of a leaf in a flattened structure


def _name(func: Callable) -> str:
    return getattr(func, "__name__", type(func).__name__)


def _is_dim(d: Any) -> bool:
    return isinstance(d, numbers.Integral) and not isinstance(d, bool)


def _check_dims_type(dims: Any, what: str, prefix: str) -> None:
    """``dims`` is an int, None, or tuples/lists/dicts nesting them."""
    if dims is None or _is_dim(dims):
        return
    if isinstance(dims, (tuple, list)):
        for d in dims:
            _check_dims_type(d, what, prefix)
        return
    if isinstance(dims, dict):
        for d in dims.values():
            _check_dims_type(d, what, prefix)
        return
    raise ArgumentError(f"{prefix}: {what} must be an int, None, or a (nested) tuple/list/dict "
                        f"of them, got {dims!r} of type {type(dims).__name__}")  # fmt: skip


def _flatten(tree: Any, dims: Any, path: str, leaves: list, what: str, prefix: str) -> Any:
    """Flatten ``tree`` (tuples, lists, dicts; anything else is a leaf) into ``leaves`` as
    ``(path, leaf, dim)``, ``dims`` broadcasting over a whole subtree where it is an int or
    None. Returns the spec that :func:`_unflatten` rebuilds the structure from."""
    if isinstance(dims, (tuple, list, dict)):
        if isinstance(dims, dict) != isinstance(tree, dict) or not isinstance(
            tree, (tuple, list, dict)
        ):
            kind = type(tree).__name__
            raise ArgumentError(f"{prefix}: {what} is not compatible with the structure of "
                                f"{path}: {what} gives {dims!r} for a {kind}")  # fmt: skip
        if isinstance(tree, dict):
            if set(dims) != set(tree):
                raise ArgumentError(f"{prefix}: {what} is not compatible with the structure "
                                    f"of {path}: keys {sorted(map(repr, dims))} for a dict "
                                    f"with keys {sorted(map(repr, tree))}")  # fmt: skip
            children = [_flatten(tree[k], dims[k], f"{path}[{k!r}]", leaves, what, prefix)
                        for k in tree]  # fmt: skip
            return (dict, tuple(tree), tuple(children))
        if len(dims) != len(tree):
            raise ArgumentError(f"{prefix}: {what} is not compatible with the structure of "
                                f"{path}: {len(dims)} entries for a {type(tree).__name__} of "
                                f"{len(tree)}")  # fmt: skip
        children = [_flatten(t, d, f"{path}[{i}]", leaves, what, prefix)
                    for i, (t, d) in enumerate(zip(tree, dims))]  # fmt: skip
        return (type(tree), None, tuple(children))
    if isinstance(tree, (tuple, list, dict)):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        children = [_flatten(t, dims, f"{path}[{k!r}]", leaves, what, prefix) for k, t in items]
        keys = tuple(tree) if isinstance(tree, dict) else None
        return (type(tree), keys, tuple(children))
    leaves.append((path, tree, dims))
    return _LEAF


def _unflatten(spec: Any, leaves: Any) -> Any:
    """The structure ``spec`` describes, its leaves taken in order from the iterator."""
    if spec is _LEAF:
        return next(leaves)
    kind, keys, children = spec
    values = [_unflatten(c, leaves) for c in children]
    if keys is not None:
        return kind(zip(keys, values))
    if hasattr(kind, "_fields"):  # a namedtuple
        return kind(*values)
    return kind(values)


def _equal(a: Any, b: Any) -> bool:
    """Whether two per-index values of an unmapped output are the same (NaNs equal)."""
    arrays = [isinstance(v, Tensor) or backend.is_array(v) for v in (a, b)]
    if any(arrays):
        if not all(arrays) or type(a) is not type(b):
            return False
        a, b = to_array(a), to_array(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        xp = backend.array_module(a)
        return bool(xp.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    try:
        return a is b or bool(a == b)
    except (TypeError, ValueError):
        return False


def vmap(func: Callable, in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:  # fmt: skip
    """The vectorising map of ``func`` (``torch.func.vmap``, JAX's ``vmap``): a function
    that maps ``func`` over a dimension of its inputs and stacks the results.

    ``vmap(f)(x)`` with ``x`` of shape ``(B, *s)`` is ``stack([f(x[0]), ..., f(x[B-1])])``,
    shaped ``(B, *f(x[0]).shape)``. This is how it is computed: ``func`` runs **once per
    mapped index**, in a Python loop, so ``vmap`` gives the results of a vectorised map, not
    its speed (chainrule's ops take batched arrays directly; write the batched op where
    speed matters). The slices and the stack are differentiable ops, so ``vmap`` composes
    with every transform: ``vmap(grad(loss), in_dims=(None, 0, 0))(w, X, y)`` gives
    per-example gradients, ``grad``/``jacrev``/``jvp`` differentiate through a vmapped
    function, and ``vmap(vmap(f))`` maps over two dimensions.

    Args:
        func: takes the positional arguments with their mapped dimension removed; returns a
            Tensor or a (nested) tuple/list/dict of Tensors (a leaf whose out_dim is None may
            be anything).
        in_dims: the dimension of each positional argument to map over. An int or None
            applies to every argument; a tuple/list has one entry per positional argument,
            each an int, None (the argument is passed as is to every call), or a nested
            tuple/list/dict matching an argument that is a tuple/list/dict of Tensors (an
            int or None there covers the whole sub-structure). Negative dims count from the
            end. Only Tensors (and NumPy arrays, wrapped as Tensors) can be mapped; the
            mapped sizes must all be equal, and at least one argument must be mapped.
            Keyword arguments are passed to every call unmapped.
        out_dims: where the mapped dimension goes in each output: an int for every output,
            or a (nested) tuple/list/dict matching ``func``'s outputs. None marks an output
            that does not depend on the mapped index: every call must return an equal
            value, and the first is returned (a ShapeError otherwise).
        randomness: ``"error"`` (default) raises a GraphError when ``func`` draws from
            chainrule's generator (``cr.randn``, dropout...); ``"different"`` lets each index
            draw its own numbers; ``"same"`` gives every index the same draws (the generator
            is reset before each call, and left where one call leaves it).
        chunk_size: None or a positive int. Accepted for ``torch.func``'s signature; results
            do not depend on it (the loop already runs one index at a time).

    Returns:
        The vmapped function (``functools.wraps(func)``). A mapped dimension of size 0 is a
        ShapeError: with no call to ``func`` there is no output shape to stack.
    """
    name = _name(func)
    if not isinstance(randomness, str) or randomness not in RANDOMNESS:
        raise ArgumentError(f"vmap: randomness must be 'error', 'different' or 'same', got "
                            f"{randomness!r}")  # fmt: skip
    if chunk_size is not None and not (_is_dim(chunk_size) and chunk_size > 0):
        raise ArgumentError(f"vmap: chunk_size must be None or a positive int, got "
                            f"{chunk_size!r}")  # fmt: skip
    _check_dims_type(in_dims, "in_dims", f"vmap({name}, in_dims={in_dims!r}, ...)")
    _check_dims_type(out_dims, "out_dims", f"vmap({name}, ..., out_dims={out_dims!r})")

    @functools.wraps(func)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        prefix = f"vmap({name}, in_dims={in_dims!r}, ...)(<inputs>)"
        spec, leaves, size = _map_inputs(args, in_dims, prefix)
        per_index = _split_inputs(leaves, size)

        def call(b: int) -> Any:
            inputs = iter(leaf if parts is None else parts[b] for leaf, parts in per_index)
            return func(*_unflatten(spec, inputs), **kwargs)

        outs = _run(call, size, randomness, name)
        return _stack_outputs(outs, out_dims, f"vmap({name}, ..., out_dims={out_dims!r})")

    return vmapped


def _map_inputs(args: tuple, in_dims: Any, prefix: str) -> tuple[Any, list, int]:
    """The arguments' spec, their leaves as ``(path, leaf, dim)`` (mapped leaves made
    Tensors, dims made non-negative) and the mapped size, checked."""
    if not args:
        raise ArgumentError(f"{prefix}: got no positional inputs; vmap needs at least one "
                            "Tensor to map over")  # fmt: skip
    if isinstance(in_dims, (tuple, list)):
        if len(in_dims) != len(args):
            raise ArgumentError(f"{prefix}: in_dims has {len(in_dims)} entries for "
                                f"{len(args)} positional arguments")  # fmt: skip
        dims = tuple(in_dims)
    elif isinstance(in_dims, dict):
        raise ArgumentError(f"{prefix}: in_dims must be an int, None or a tuple/list with one "
                            "entry per positional argument, got a dict")  # fmt: skip
    else:
        dims = (in_dims,) * len(args)
    raw: list = []
    spec = _flatten(args, dims, "arguments", raw, "in_dims", prefix)
    leaves, sizes = [], []
    for path, leaf, dim in raw:
        path = path.replace("arguments[", "argument ", 1).replace("]", "", 1)
        if dim is not None:
            if not isinstance(leaf, Tensor) and not backend.is_array(leaf):
                raise ArgumentError(f"{prefix}: got in_dim={dim} for {path} of type "
                                    f"{type(leaf).__name__}; only Tensors can be mapped over, "
                                    "use None as its in_dim")  # fmt: skip
            leaf = leaf if isinstance(leaf, Tensor) else wrap(to_array(leaf))
            if not -leaf.ndim <= dim < leaf.ndim:
                want = (f"expected -{leaf.ndim} <= in_dim < {leaf.ndim}" if leaf.ndim
                        else "a 0-d Tensor has no dimension to map over")  # fmt: skip
                raise ShapeError(f"{prefix}: got in_dim={dim} for {path} of shape {leaf.shape}; "
                                 f"{want}")  # fmt: skip
            dim %= leaf.ndim
            sizes.append((path, leaf.shape[dim]))
        leaves.append((path, leaf, dim))
    if not sizes:
        raise ArgumentError(f"{prefix}: at least one input must be mapped over (got "
                            f"in_dims={in_dims!r})")  # fmt: skip
    size = sizes[0][1]
    if any(s != size for _, s in sizes):
        got = ", ".join(f"{p}: {s}" for p, s in sizes)
        raise ShapeError("vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {got}")  # fmt: skip
    if size == 0:
        raise ShapeError(f"vmap: the mapped dimension has size 0 ({sizes[0][0]}); vmap calls "
                         "func once per index and cannot give an output shape without a "
                         "call")  # fmt: skip
    return spec, leaves, size


def _split_inputs(leaves: list, size: int) -> list[tuple[Any, list | None]]:
    """Per leaf: ``(leaf, its size slices)`` when mapped, ``(leaf, None)`` when not. One
    ``split`` per mapped input, so the backward pass concatenates once instead of
    scattering into a full-size gradient per index."""
    out = []
    for _, leaf, dim in leaves:
        parts = None
        if dim is not None:
            parts = [ops.squeeze(p, dim) for p in ops.split(leaf, size, axis=dim)]
        out.append((leaf, parts))
    return out


def _run(call: Callable[[int], Any], size: int, randomness: str, name: str) -> list:
    """``[call(0), ..., call(size - 1)]`` under the randomness mode."""
    if randomness == "different":
        return [call(b) for b in range(size)]
    start = backend.get_rng_state()
    if randomness == "same":
        outs, after = [], start
        for b in range(size):
            backend.set_rng_state(start)
            outs.append(call(b))
            if b == 0:
                after = backend.get_rng_state()
        backend.set_rng_state(after)
        return outs
    outs = []
    for b in range(size):
        outs.append(call(b))
        if backend.get_rng_state() != start:
            backend.set_rng_state(start)
            raise GraphError(f"vmap({name}, ...): called random operation while in randomness "
                             "error mode. Please either use the 'same' or 'different' "
                             "randomness flags on vmap or perform the randomness operation "
                             "out of vmap")  # fmt: skip
    return outs


def _stack_outputs(outs: Sequence[Any], out_dims: Any, prefix: str) -> Any:
    """The per-index outputs stacked along their out_dims, in ``outs[0]``'s structure."""
    first = outs[0]
    if not isinstance(first, (tuple, list, dict)) and isinstance(out_dims, (tuple, list)):
        if len(out_dims) != 1:
            raise ArgumentError(f"{prefix}: out_dims has {len(out_dims)} entries for a single "
                                "output")  # fmt: skip
        out_dims = out_dims[0]  # torch.func accepts (d,) for a single Tensor
    flat = []
    spec = None
    for b, out in enumerate(outs):
        leaves: list = []
        spec_b = _flatten(out, out_dims, "output", leaves, "out_dims", prefix)
        if b == 0:
            spec = spec_b
        elif spec_b != spec:
            raise ShapeError(f"{prefix}: func returned outputs of different structures at "
                             f"index 0 and index {b}")  # fmt: skip
        flat.append(leaves)
    stacked = []
    for j, (path, value, dim) in enumerate(flat[0]):
        values = [leaves[j][1] for leaves in flat]
        if dim is None:
            for b, v in enumerate(values[1:], 1):
                if not _equal(v, value):
                    raise ShapeError(f"{prefix}: out_dim is None for {path} but func returned "
                                     f"different values at index 0 and index {b}; an unmapped "
                                     "output must not depend on the mapped index")  # fmt: skip
            stacked.append(value)
            continue
        for b, v in enumerate(values):
            if not isinstance(v, Tensor):
                raise ShapeError(f"{prefix}: func must only return Tensors, got "
                                 f"{type(v).__name__} for {path} at index {b} (compute it with "
                                 "chainrule ops, or set its out_dim to None if it does not "
                                 "depend on the mapped index)")  # fmt: skip
            if v.shape != value.shape:
                raise ShapeError(f"{prefix}: func returned shape {value.shape} for {path} at "
                                 f"index 0 but {v.shape} at index {b}")  # fmt: skip
        nd = value.ndim + 1
        if not -nd <= dim < nd:
            raise ShapeError(f"{prefix}: out_dim={dim} for {path} of per-index shape "
                             f"{value.shape}; expected -{nd} <= out_dim < {nd}")  # fmt: skip
        stacked.append(ops.stack(values, axis=dim % nd))
    return _unflatten(spec, iter(stacked))

"""Graph: a DAG of named modules, wired by name and run in topological order.

::

    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("h", nn.Linear(4, 8), inputs=["x"])
    g.add("a", nn.ReLU(), inputs=["h"])
    g.add("skip", nn.Linear(4, 8), inputs=["x"])
    g.add("s", nn.Add(), inputs=["a", "skip"])   # several inputs arrive as positional args
    g.add("y", nn.Linear(8, 1), inputs=["s"])
    y = g(x)                                      # several outputs come back as a tuple

Branches, skip connections, Inception-like blocks (``nn.Concat``) and several heads are
all just wiring. Nodes may be added in any order (an input may name a node added later);
the wiring is checked at the first call (or by :meth:`Graph.check`), and every problem
names the node: unknown input names (with a suggestion), duplicate names (at ``add``),
cycles, graph inputs no node uses, nodes whose output reaches no graph output, and graph
outputs that nothing produces. An error raised inside a node's module says which node it
was and the shapes it got.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Sequence
from typing import Any

from chainrule.nn.module import (
    Module,
    ModuleError,
    ModuleNameError,
    ModuleTypeError,
    _fmt_shape,
    raise_in,
)

__all__ = ["Graph", "GraphBuildError"]


class GraphBuildError(ModuleError, ValueError):
    """A Graph that is wired wrongly: the message names the node."""


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ModuleTypeError(f"{what} must be a list of names (str), got {value!r}")
    return list(value)


class Graph(Module):
    """A directed acyclic graph of named modules.

    Args:
        inputs: names of the graph's inputs; ``g(a, b)`` binds them in this order, and
            ``g(x=a, y=b)`` by name.
        outputs: names of the nodes (or inputs) returned; one name returns one value,
            several return a tuple in this order.

    ``add(name, module, inputs=[...])`` adds a node whose module is called with the values
    of ``inputs`` as positional arguments, in that order. Nodes are child modules under
    their names, so parameters are named ``"<node>.weight"``.

    Shapes: whatever the wiring gives. The modular backward works as for any module:
    ``g.backward(dL_dy)`` (a tuple for several outputs) returns ``dL/d input`` (a tuple for
    several inputs, in ``inputs`` order).
    """

    def __init__(self, inputs: Sequence[str], outputs: Sequence[str]) -> None:
        super().__init__()
        ins = _names(inputs, "Graph inputs")
        outs = _names(outputs, "Graph outputs")
        if not ins:
            raise GraphBuildError("a Graph needs at least one input name")
        if not outs:
            raise GraphBuildError("a Graph needs at least one output name")
        dup = sorted({n for n in ins if ins.count(n) > 1})
        if dup:
            raise GraphBuildError(f"duplicate Graph input name(s): {', '.join(dup)}")
        self.graph_inputs: list[str] = ins
        self.graph_outputs: list[str] = outs
        self.node_inputs: dict[str, list[str]] = {}
        self._order: list[str] | None = None

    # ---- building ---------------------------------------------------------------------
    def add(self, name: str, module: Module, inputs: Sequence[str]) -> Graph:
        """Add node ``name`` computing ``module(*values of inputs)``; returns the graph."""
        if not isinstance(name, str) or not name or "." in name:
            raise GraphBuildError(f"node name must be a non-empty str without '.', got {name!r}")
        if name in self.node_inputs:
            raise GraphBuildError(f"duplicate node name '{name}': the Graph already has it")
        if name in self.graph_inputs:
            raise GraphBuildError(f"node '{name}': the name is already a Graph input")
        if not isinstance(module, Module):
            raise ModuleTypeError(
                f"node '{name}': module must be an nn.Module, got {type(module).__name__}"
            )
        ins = _names(inputs, f"node '{name}': inputs")
        if not ins:
            raise GraphBuildError(f"node '{name}' needs at least one input")
        if name in ins:
            raise GraphBuildError(f"node '{name}' takes its own output as input (a cycle)")
        # Registered directly (not through add_module), so a node may be called "add" or
        # "train": nodes are reached as g["name"], never as attributes.
        self._modules[name] = module
        self.node_inputs[name] = ins
        self._order = None
        return self

    def check(self) -> list[str]:
        """Check the wiring and return the nodes in evaluation order (topological, ties in
        the order they were added). Called by the first forward."""
        if self._order is not None:
            return self._order
        nodes = self.node_inputs
        known = set(self.graph_inputs) | set(nodes)
        for name, ins in nodes.items():
            for i in ins:
                if i not in known:
                    close = difflib.get_close_matches(i, sorted(known), n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    raise GraphBuildError(
                        f"node '{name}' ({self._modules[name]._get_name()}): unknown input "
                        f"'{i}' (graph inputs: {', '.join(self.graph_inputs)}; nodes: "
                        f"{', '.join(nodes) or 'none'}){hint}"
                    )
        for o in self.graph_outputs:
            if o not in known:
                close = difflib.get_close_matches(o, sorted(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise GraphBuildError(
                    f"graph output '{o}' is never produced: no node or input has that name{hint}"
                )
        order = self._topological_order()
        used = {i for ins in nodes.values() for i in ins} | set(self.graph_outputs)
        for i in self.graph_inputs:
            if i not in used:
                raise GraphBuildError(f"graph input '{i}' is not used by any node")
        live = set(self.graph_outputs)
        for name in reversed(order):
            if name in live:
                live.update(nodes[name])
        for name in order:
            if name not in live:
                raise GraphBuildError(
                    f"node '{name}' ({self._modules[name]._get_name()}) is unused: its "
                    f"output reaches no graph output ({', '.join(self.graph_outputs)})"
                )
        self._order = order
        return order

    def _topological_order(self) -> list[str]:
        nodes = self.node_inputs
        rank = {name: k for k, name in enumerate(nodes)}
        waiting = {name: sum(1 for i in set(ins) if i in nodes) for name, ins in nodes.items()}
        consumers: dict[str, list[str]] = {name: [] for name in nodes}
        for name, ins in nodes.items():
            for i in set(ins):
                if i in nodes:
                    consumers[i].append(name)
        ready = [(rank[n], n) for n, w in waiting.items() if w == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, n = heapq.heappop(ready)
            order.append(n)
            for c in consumers[n]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    heapq.heappush(ready, (rank[c], c))
        if len(order) < len(nodes):
            stuck = [n for n in nodes if waiting[n] > 0]
            raise GraphBuildError(
                f"cycle in the Graph through node(s) {self._cycle(stuck)}: a Graph must be acyclic"
            )
        return order

    def _cycle(self, stuck: list[str]) -> str:
        """One cycle among the ``stuck`` nodes, as "'a' -> 'b' -> 'a'" (data-flow order).

        Every stuck node waits for at least one stuck input, so following such inputs
        from any stuck node must come back to a node already on the path."""
        blocked = set(stuck)
        path, seen = [stuck[0]], {stuck[0]: 0}
        while True:
            nxt = next(i for i in self.node_inputs[path[-1]] if i in blocked)
            if nxt in seen:
                cyc = [*path[seen[nxt] :], nxt]
                return " -> ".join(f"'{n}'" for n in reversed(cyc))
            seen[nxt] = len(path)
            path.append(nxt)

    def __getitem__(self, name: str) -> Module:
        """The module of node ``name``."""
        if name not in self.node_inputs:
            raise ModuleNameError(f"the Graph has no node '{name}'")
        return self._modules[name]

    def __len__(self) -> int:
        return len(self.node_inputs)

    # ---- running ----------------------------------------------------------------------
    def _bind(self, args: tuple, kwargs: dict) -> list:
        names = self.graph_inputs
        if len(args) > len(names):
            raise ModuleTypeError(
                f"Graph takes {len(names)} input(s) ({', '.join(names)}), got {len(args)}"
            )
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise ModuleTypeError(
                    f"Graph got an unknown input '{k}'; its inputs are {', '.join(names)}"
                )
            if k in values:
                raise ModuleTypeError(f"Graph got input '{k}' twice (positionally and by name)")
            values[k] = v
        missing = [n for n in names if n not in values]
        if missing:
            raise ModuleTypeError(f"Graph call is missing input(s): {', '.join(missing)}")
        return [values[n] for n in names]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        order = self.check()
        values = dict(zip(self.graph_inputs, self._bind(args, kwargs)))
        for name in order:
            m = self._modules[name]
            xs = [values[i] for i in self.node_inputs[name]]
            try:
                values[name] = m(*xs)
            except Exception as exc:
                shapes = ", ".join(
                    f"{i} {_fmt_shape(getattr(x, 'shape', None))}"
                    for i, x in zip(self.node_inputs[name], xs)
                )
                raise_in(f"Graph node '{name}' ({m._get_name()}) with inputs {shapes}", exc)
        outs = tuple(values[o] for o in self.graph_outputs)
        return outs[0] if len(outs) == 1 else outs

    def _backward_inputs(self, args: tuple, kwargs: dict) -> Any:
        bound = self._bind(args, kwargs)
        return bound[0] if len(bound) == 1 else tuple(bound)

    # ---- printing -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        return f"inputs={self.graph_inputs}, outputs={self.graph_outputs}"

    def _child_label(self, name: str) -> str:
        ins = self.node_inputs.get(name)
        return f"({name}) <- {', '.join(ins)}" if ins else f"({name})"

    def __repr__(self) -> str:
        if not self.node_inputs:
            return f"Graph({self.extra_repr()})"
        return super().__repr__()

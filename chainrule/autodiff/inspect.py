"""Looking at a graph: how many nodes stand behind a tensor, and how much they keep."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.tensor import Tensor


def walk_nodes(t: Tensor) -> list:
    """Every node behind ``t``, each once (iteratively: deep graphs are fine)."""
    if t._node is None:
        return []
    seen = {id(t._node): t._node}
    stack = [t._node]
    while stack:
        node = stack.pop()
        for p in node.parents:
            if p is None or isinstance(p, Tensor):
                continue
            pnode = p[0] if type(p) is tuple else p
            if id(pnode) not in seen:
                seen[id(pnode)] = pnode
                stack.append(pnode)
    return list(seen.values())


def graph_stats(t: Tensor) -> dict[str, Any]:
    """``{"nodes": n, "saved_bytes": b}`` for the graph behind ``t``; ``saved_bytes`` counts
    each distinct array saved for backward once."""
    nodes = walk_nodes(t)
    arrays = {}
    for node in nodes:
        for v in node.saved:
            if backend.is_array(v):
                arrays[id(v)] = v.nbytes
    return {"nodes": len(nodes), "saved_bytes": sum(arrays.values())}

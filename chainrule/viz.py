"""Drawing the computation graph behind a tensor.

``draw_graph(t, "g.dot")`` writes Graphviz DOT text (no dependency); ``.svg`` and ``.png``
paths are rendered with Graphviz's ``dot`` program. Op nodes show the op, output shape
and dtype; leaves show shape, dtype and, after backward, the norm of ``.grad``. Op nodes
show the norm of their output gradient when backward ran inside ``record_grad_norms()``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import numpy as np

from chainrule.autodiff.inspect import walk_nodes
from chainrule.autograd.mode import state
from chainrule.errors import ChainruleError, DTypeError
from chainrule.tensor import Tensor


class record_grad_norms:
    """Inside this block, backward stores each op's output-gradient norm on its node."""

    def __enter__(self) -> record_grad_norms:
        self._prev = state.record_grad_norms
        state.record_grad_norms = True
        return self

    def __exit__(self, *exc: Any) -> None:
        state.record_grad_norms = self._prev


def _norm(t: Tensor) -> float:
    return float(np.sqrt((np.asarray(t.numpy(), dtype=np.float64) ** 2).sum()))


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def to_dot(t: Tensor) -> str:
    """The DOT text of the graph behind ``t``."""
    if not isinstance(t, Tensor):
        raise DTypeError(f"to_dot/draw_graph: expected a Tensor, got {type(t).__name__}")
    lines = ["digraph chainrule {", '  rankdir="BT";', '  node [fontname="Helvetica"];']
    nodes = walk_nodes(t)
    ids = {id(n): f"op{i}" for i, n in enumerate(nodes)}
    leaves: dict[int, str] = {}
    for node in nodes:
        shape, dtype = node.out_shape, node.out_dtype
        label = f"{node.name}\\n{_fmt_shape(shape)} {dtype}"
        grad_norm = getattr(node, "grad_norm", None)  # set by record_grad_norms
        if grad_norm is not None:
            label += f"\\n|grad| = {grad_norm:.4g}"
        lines.append(f'  {ids[id(node)]} [shape=box, label="{label}"];')
        for k, p in enumerate(node.parents):
            if p is None:
                continue
            if isinstance(p, Tensor):
                if id(p) not in leaves:
                    leaves[id(p)] = f"leaf{len(leaves)}"
                    label = f"leaf\\n{_fmt_shape(p.shape)} {p.dtype}"
                    if p.grad is not None:
                        label += f"\\n|grad| = {_norm(p.grad):.4g}"
                    lines.append(f'  {leaves[id(p)]} [shape=ellipse, label="{label}"];')
                src = leaves[id(p)]
            else:
                src = ids[id(p[0] if type(p) is tuple else p)]
            lines.append(f'  {src} -> {ids[id(node)]} [label="{k}"];')
    if not nodes:
        lines.append(f'  leaf0 [shape=ellipse, label="leaf\\n{_fmt_shape(t.shape)} {t.dtype}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_graph(t: Tensor, path: str | os.PathLike) -> str:
    """Write the graph behind ``t`` to ``path`` (.dot text, or .svg/.png via Graphviz)."""
    path = os.fspath(path)
    dot = to_dot(t)
    ext = os.path.splitext(path)[1].lower()
    if ext in ("", ".dot", ".gv"):
        with open(path, "w") as fh:
            fh.write(dot)
        return path
    if ext not in (".svg", ".png", ".pdf"):
        raise ChainruleError(f"draw_graph: unknown file type {ext!r}; use .dot, .svg or .png")
    exe = shutil.which("dot")
    if exe is None:
        raise ChainruleError(
            f"draw_graph: rendering {ext} needs Graphviz's 'dot' program, which is not "
            "installed (e.g. apt install graphviz); a .dot path needs nothing"
        )
    subprocess.run([exe, f"-T{ext[1:]}", "-o", path], input=dot.encode(), check=True)
    return path

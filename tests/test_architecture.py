"""The package's layers import in one direction only: a lower layer never imports a higher
one at module level (function-level imports, made at call time, are not checked)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chainrule

PACKAGE = Path(chainrule.__file__).parent

# The layers, lowest first. A module may import its own layer and any lower one.
LAYERS: list[set[str]] = [
    {"errors", "autograd.mode"},  # depend on nothing
    {"backend"},
    {"tensor"},
    {"autograd", "creation"},
    {"ops"},
    {"autodiff"},
    {"viz"},
    {"nn"},
    {"optim", "data", "datasets", "io", "func"},
    {"diagnostics"},
    {"train"},
    {"__init__"},  # the public namespace: imports everything up to train
    {"testing"},  # the oracle tables, built on the whole package
    {"cli"},  # the chainrule command: train and gradcheck (which runs the tables)
    {"__main__"},  # python -m chainrule
]
RANK = {unit: level for level, units in enumerate(LAYERS) for unit in units}

# Documented exceptions: (importing file, imported unit).
ALLOWED = {
    # Tensor's methods call ops; ops build on Tensor. The import sits at the end of
    # tensor.py, after the class exists (see the README's Architecture section).
    ("tensor.py", "ops"),
}


def _unit(module: str) -> str:
    """``chainrule.autograd.mode`` -> ``autograd.mode``; ``chainrule.ops.conv`` -> ``ops``."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__"
    dotted = ".".join(parts[:2])
    return dotted if dotted in RANK else parts[0].removesuffix(".py")


def _imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, imported unit) for each module-level import of chainrule."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chainrule"):
            if node.module == "chainrule":  # from chainrule import backend, nn, ...
                found += [(node.lineno, _unit(f"chainrule.{a.name}")) for a in node.names]
            else:
                found.append((node.lineno, _unit(node.module)))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, _unit(a.name)) for a in node.names if a.name.startswith("chainrule")
            ]
    return found


def _file_unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return _unit(".".join(("chainrule", *rel.with_suffix("").parts)))


def test_every_unit_has_a_layer() -> None:
    units = {_file_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units - RANK.keys() == set(), "add the new package or module to LAYERS"


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_imports_point_down(path: Path) -> None:
    own = _file_unit(path)
    rel = str(path.relative_to(PACKAGE))
    upward = [
        f"line {line}: {own} (layer {RANK[own]}) imports {unit} (layer {RANK[unit]})"
        for line, unit in _imports(ast.parse(path.read_text()))
        if unit != own and RANK[unit] >= RANK[own] and (rel, unit) not in ALLOWED
    ]
    assert not upward, f"{rel} imports upwards:\n" + "\n".join(upward)


def test_the_check_catches_an_upward_import() -> None:
    tree = ast.parse("from chainrule.nn import Linear\nimport chainrule.train\n")
    assert [unit for _, unit in _imports(tree)] == ["nn", "train"]
    assert RANK["nn"] > RANK["ops"]

"""cr.viz.draw_graph: DOT text always, SVG/PNG through Graphviz when it is installed."""

import re
import shutil
import sys

import numpy as np
import pytest

import chainrule as cr


def build():
    x = cr.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    w = cr.tensor(np.full((3, 2), 0.5, dtype=np.float32), requires_grad=True)
    loss = (x @ w).exp().sum()
    return w, loss


def labels(dot):
    return re.findall(r'label="([^"]*)"', dot)


def test_viz_is_reachable_as_attribute():
    assert hasattr(cr, "viz")
    assert callable(cr.viz.draw_graph)


def test_dot_has_ops_shapes_dtypes(tmp_path):
    _, loss = build()
    path = tmp_path / "graph.dot"
    cr.viz.draw_graph(loss, path)
    dot = path.read_text()
    assert dot.lstrip().startswith("digraph")
    assert dot.rstrip().endswith("}")
    text = "\n".join(labels(dot))
    for op in ("matmul", "exp", "sum"):
        assert op in text, op
    assert "(4, 2)" in text  # matmul and exp outputs
    assert "(3, 2)" in text  # the leaf w
    assert "float32" in text
    assert "|grad|" not in text  # no backward yet
    assert dot.count("->") >= 3


def test_edges_follow_the_data(tmp_path):
    _, loss = build()
    path = tmp_path / "g.dot"
    cr.viz.draw_graph(loss, str(path))
    dot = path.read_text()
    name = {}
    for node_id, label in re.findall(r'(\w+) \[shape=\w+, label="([^"]*)"\]', dot):
        name[node_id] = label.split("\\n")[0]
    edges = {(name[a], name[b]) for a, b in re.findall(r"(\w+) -> (\w+)", dot)}
    assert ("leaf", "matmul") in edges
    assert ("matmul", "exp") in edges
    assert ("exp", "sum") in edges


def test_leaf_grad_norm_after_backward(tmp_path):
    w, loss = build()
    loss.backward()
    path = tmp_path / "after.dot"
    cr.viz.draw_graph(loss, path)
    dot = path.read_text()
    norm = float(np.linalg.norm(w.grad.numpy().astype(np.float64)))
    leaf = [lab for lab in labels(dot) if lab.startswith("leaf")]
    assert len(leaf) == 1
    got = float(re.search(r"\|grad\| = ([0-9.e+-]+)", leaf[0]).group(1))
    assert got == pytest.approx(norm, rel=1e-3)


def test_op_grad_norms_with_record_grad_norms(tmp_path):
    _, loss = build()
    with cr.viz.record_grad_norms():
        loss.backward()
    path = tmp_path / "norms.dot"
    cr.viz.draw_graph(loss, path)
    ops = {lab.split("\\n")[0]: lab for lab in labels(path.read_text()) if "\\n(" in lab}
    for op in ("sum", "exp", "matmul"):
        assert "|grad|" in ops[op], ops
    # the gradient reaching sum is the scalar 1; reaching exp, ones of shape (4, 2)
    assert ops["sum"].endswith("|grad| = 1")
    assert ops["exp"].endswith(f"|grad| = {np.sqrt(8):.4g}")


def test_svg_without_graphviz_raises(tmp_path, monkeypatch):
    _, loss = build()
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(cr.ChainruleError, match=r"(?i)graphviz") as info:
        cr.viz.draw_graph(loss, tmp_path / "g.svg")
    assert "dot" in str(info.value)
    with pytest.raises(cr.ChainruleError, match=r"(?i)graphviz"):
        cr.viz.draw_graph(loss, tmp_path / "g.png")
    assert not (tmp_path / "g.svg").exists()


def test_unknown_extension_raises(tmp_path):
    _, loss = build()
    with pytest.raises(cr.ChainruleError, match=r"\.bmp"):
        cr.viz.draw_graph(loss, tmp_path / "g.bmp")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_renders_with_graphviz(tmp_path):
    _, loss = build()
    path = tmp_path / "g.svg"
    cr.viz.draw_graph(loss, path)
    svg = path.read_text()
    assert "<svg" in svg and "matmul" in svg


def test_render_calls_dot_with_the_dot_text(tmp_path, monkeypatch):
    # a stand-in for Graphviz's dot: records -T and writes stdin to the -o path
    fake = tmp_path / "fake_dot"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "fmt = [a[2:] for a in args if a.startswith('-T')][0]\n"
        "out = args[args.index('-o') + 1]\n"
        "open(out, 'w').write('FAKE ' + fmt + '\\n' + sys.stdin.read())\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda *a, **k: str(fake))
    _, loss = build()
    for ext in ("svg", "png"):
        path = tmp_path / f"g.{ext}"
        cr.viz.draw_graph(loss, path)
        text = path.read_text()
        assert text.startswith(f"FAKE {ext}\n")
        assert "digraph" in text and "matmul" in text


def test_leaf_tensor_graph(tmp_path):
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    path = tmp_path / "leaf.dot"
    cr.viz.draw_graph(t, path)
    (label,) = labels(path.read_text())
    assert label.startswith("leaf") and "float32" in label and "2" in label


def test_a_non_tensor_is_a_clear_error(tmp_path):
    with pytest.raises(cr.DTypeError, match="expected a Tensor, got int"):
        cr.viz.draw_graph(3, tmp_path / "g.dot")

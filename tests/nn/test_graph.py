"""nn.Graph: wiring by name, topological evaluation, errors that name the node."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from ._helpers import ReLU, rand


def api_example() -> nn.Graph:
    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("h", nn.Linear(4, 8), inputs=["x"])
    g.add("a", ReLU(), inputs=["h"])
    g.add("skip", nn.Linear(4, 8), inputs=["x"])
    g.add("s", nn.Add(), inputs=["a", "skip"])
    g.add("y", nn.Linear(8, 1), inputs=["s"])
    return g


def test_api_example_matches_the_hand_written_computation():
    g = api_example()
    x = rand(5, 4)
    y = g(x)
    h = g["h"](x)
    want = g["y"](h.relu() + g["skip"](x))
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-6)
    assert y.shape == (5, 1)
    assert list(g.state_dict())[:2] == ["h.weight", "h.bias"]
    assert len(g) == 5


def test_nodes_may_be_added_in_any_order():
    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("y", nn.Linear(8, 1), inputs=["a"])  # "a" is added below
    g.add("a", ReLU(), inputs=["h"])
    g.add("h", nn.Linear(4, 8), inputs=["x"])
    assert g.check() == ["h", "a", "y"]
    assert g(rand(2, 4)).shape == (2, 1)


def test_several_inputs_and_outputs():
    g = nn.Graph(inputs=["a", "b"], outputs=["cat", "prod"])
    g.add("cat", nn.Concat(axis=1), inputs=["a", "b"])
    g.add("prod", nn.Multiply(), inputs=["a", "b"])
    a, b = rand(2, 3), rand(2, 3, seed=1)
    cat, prod = g(a, b)
    assert cat.shape == (2, 6)
    np.testing.assert_allclose(prod.numpy(), a.numpy() * b.numpy())
    cat2, _ = g(b=b, a=a)
    np.testing.assert_array_equal(cat2.numpy(), cat.numpy())
    with pytest.raises(TypeError, match="missing input"):
        g(a)
    with pytest.raises(TypeError, match="unknown input 'c'"):
        g(a, c=b)
    with pytest.raises(TypeError, match="twice"):
        g(a, b, a=a)


def test_inception_like_block():
    g = nn.Graph(inputs=["x"], outputs=["out"])
    for k, width in enumerate((2, 3, 4)):
        g.add(f"branch{k}", nn.Linear(5, width), inputs=["x"])
    g.add("cat", nn.Concat(), inputs=["branch0", "branch1", "branch2"])
    g.add("out", nn.Linear(9, 2), inputs=["cat"])
    assert g(rand(3, 5)).shape == (3, 2)


def test_node_names_may_shadow_methods():
    g = nn.Graph(inputs=["x"], outputs=["add"])
    g.add("train", nn.Linear(2, 2), inputs=["x"])
    g.add("add", nn.Identity(), inputs=["train"])
    assert g(rand(1, 2)).shape == (1, 2)
    assert callable(g.add) and g.train() is g


# ---- errors that name the node -----------------------------------------------------------------
def test_duplicate_names_fail_at_add():
    g = api_example()
    with pytest.raises(nn.GraphBuildError, match="duplicate node name 'h'"):
        g.add("h", nn.Identity(), inputs=["x"])
    with pytest.raises(ValueError, match="node 'x': the name is already a Graph input"):
        g.add("x", nn.Identity(), inputs=["h"])
    with pytest.raises(cr.ChainruleError, match="node 'loop' takes its own output"):
        g.add("loop", nn.Identity(), inputs=["loop"])
    with pytest.raises(TypeError, match=r"node 'bad': module must be an nn\.Module"):
        g.add("bad", lambda x: x, inputs=["x"])
    with pytest.raises(nn.GraphBuildError, match="duplicate Graph input"):
        nn.Graph(inputs=["x", "x"], outputs=["x"])


def test_unknown_input_is_named_with_a_suggestion():
    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("hidden", nn.Linear(4, 8), inputs=["x"])
    g.add("y", nn.Linear(8, 1), inputs=["hiden"])
    with pytest.raises(
        nn.GraphBuildError, match=r"node 'y' \(Linear\): unknown input 'hiden'"
    ) as e:
        g(rand(1, 4))
    assert "did you mean 'hidden'?" in str(e.value)


def test_cycle_is_named():
    g = nn.Graph(inputs=["x"], outputs=["c"])
    g.add("a", nn.Add(), inputs=["x", "c"])
    g.add("b", nn.Identity(), inputs=["a"])
    g.add("c", nn.Identity(), inputs=["b"])
    with pytest.raises(nn.GraphBuildError, match="cycle") as e:
        g(rand(2))
    msg = str(e.value)
    assert all(f"'{n}'" in msg for n in "abc")
    assert "'a' -> 'b' -> 'c' -> 'a'" in msg


def test_unused_input_unused_node_and_missing_output():
    g = nn.Graph(inputs=["x", "extra"], outputs=["y"])
    g.add("y", nn.Identity(), inputs=["x"])
    with pytest.raises(nn.GraphBuildError, match="graph input 'extra' is not used"):
        g(rand(1), rand(1))
    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("y", nn.Identity(), inputs=["x"])
    g.add("dead", nn.Linear(1, 1), inputs=["x"])
    with pytest.raises(nn.GraphBuildError, match="node 'dead' \\(Linear\\) is unused"):
        g(rand(1))
    g = nn.Graph(inputs=["x"], outputs=["y", "z"])
    g.add("y", nn.Identity(), inputs=["x"])
    with pytest.raises(nn.GraphBuildError, match="graph output 'z' is never produced"):
        g.check()


def test_failing_node_is_named_with_its_input_shapes():
    g = nn.Graph(inputs=["x"], outputs=["s"])
    g.add("a", nn.Linear(4, 8), inputs=["x"])
    g.add("b", nn.Linear(4, 7), inputs=["x"])
    g.add("s", nn.Add(), inputs=["a", "b"])
    with pytest.raises(cr.ShapeError) as e:
        g(rand(3, 4))
    assert str(e.value).startswith(
        "in Graph node 's' (Add) with inputs a (3, 8), b (3, 7): Add: inputs must have"
    )
    assert isinstance(e.value.__cause__, cr.ShapeError)


def test_graph_inside_sequential_gives_the_full_path():
    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("y", nn.Linear(3, 1), inputs=["x"])
    seq = nn.Sequential(nn.Linear(2, 4), g)
    with pytest.raises(ValueError, match=r"^in Sequential\[1\] \(Graph\): in Graph node 'y'"):
        seq(rand(5, 2))


def test_repr_lists_nodes_with_inputs():
    g = api_example()
    lines = repr(g).splitlines()
    assert lines[0] == "Graph(  # 89 params"
    assert lines[1] == "  inputs=['x'], outputs=['y']"
    assert lines[2] == "  (h) <- x: Linear(in_features=4, out_features=8, bias=True)  # 40 params"
    assert "  (s) <- a, skip: Add()" in lines
    assert lines[-1] == ")"

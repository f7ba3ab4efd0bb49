"""Sequential, ModuleList, ModuleDict and the multi-input modules."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from ._helpers import ReLU, rand


def test_sequential_indexing_slicing_and_editing():
    a, r, b = nn.Linear(2, 3), ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, r, b)
    assert len(seq) == 3 and list(seq) == [a, r, b]
    assert seq[0] is a and seq[-1] is b
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, r]
    assert head(rand(4, 2)).shape == (4, 3)
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(cr.ChainruleError):
        seq[5]
    seq.append(ReLU())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"] and seq[1] is b
    seq.insert(1, r)
    assert list(seq)[:3] == [a, r, b]
    seq[3] = nn.Identity()
    assert isinstance(seq[3], nn.Identity)


def test_sequential_from_ordered_dict_names_children():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"]
    assert seq.fc is seq[0]
    with pytest.raises(ValueError, match=r"^in Sequential\['fc'\] \(Linear\)"):
        seq(rand(4, 5))


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1))
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert len(layers) == 3 and "3" not in dict(layers.named_children())
    layers.insert(0, ReLU())
    assert isinstance(layers[0], ReLU)
    both = layers + nn.ModuleList([nn.Identity()])
    assert len(both) == 5
    x = rand(1, 2)
    for layer in layers:
        x = layer(x)
    assert x.shape == (1, 1)

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    assert [n for n, _ in Holder().named_parameters()][:2] == ["blocks.0.weight", "blocks.0.bias"]


def test_module_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    assert list(d) == ["enc", "dec"] and "enc" in d and len(d) == 2
    d["act"] = ReLU()
    assert list(d.keys()) == ["enc", "dec", "act"]
    assert [type(m).__name__ for m in d.values()] == ["Linear", "Linear", "ReLU"]
    assert isinstance(d.pop("act"), ReLU) and "act" not in d
    del d["dec"]
    assert [k for k, _ in d.items()] == ["enc"]
    d.update([("x", nn.Identity())])
    assert len(d) == 2
    d.clear()
    assert len(d) == 0
    with pytest.raises(KeyError, match="ModuleDict has no module 'enc'; it holds nothing"):
        d["enc"]
    d["a"] = nn.Identity()
    with pytest.raises(nn.ModuleNameError, match="no module 'b'; it holds 'a'"):
        del d["b"]


def test_add_multiply_concat():
    a, b, c = rand(2, 3), rand(2, 3, seed=1), rand(2, 3, seed=2)
    np.testing.assert_allclose(nn.Add()(a, b, c).numpy(), a.numpy() + b.numpy() + c.numpy())
    np.testing.assert_allclose(nn.Multiply()(a, b).numpy(), a.numpy() * b.numpy())
    assert nn.Concat()(a, b).shape == (2, 6)
    assert nn.Concat(axis=0)(a, b, c).shape == (6, 3)
    assert repr(nn.Concat(axis=0)) == "Concat(axis=0)"
    with pytest.raises(cr.ShapeError, match=r"Add: inputs must have the same shape, got \(2, 3\)"):
        nn.Add()(a, rand(3))
    with pytest.raises(cr.ShapeError):
        nn.Concat()(a, rand(3, 3))


def test_parameter_list_and_dict_register_learn_and_match_torch_keys():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([np.ones((2, 3), np.float32), cr.zeros(3)])
            self.scales = nn.ParameterDict({"a": cr.ones(3), "b": nn.Parameter(cr.zeros(1))})

        def forward(self, x):
            return (x @ self.ws[0] + self.ws[1]) * self.scales["a"]

    net = Net()
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert list(net.state_dict()) == ["ws.0", "ws.1", "scales.a", "scales.b"]  # torch's keys
    net(cr.ones(4, 2)).sum().backward()
    assert [p.grad is not None for p in net.parameters()] == [True, True, True, False]
    before = net.ws[0].numpy().copy()
    cr.optim.SGD(net.parameters(), lr=0.1).step()
    assert not np.array_equal(net.ws[0].numpy(), before)
    net.double()
    assert net.ws[1].dtype == np.float64 and net.scales["b"].dtype == np.float64
    # list and dict behaviour
    ws = net.ws.append(cr.ones(1))
    assert ws is net.ws and len(ws) == 3 and isinstance(ws[-1], nn.Parameter)
    assert [p.shape for p in ws[1:]] == [(3,), (1,)] and isinstance(ws[1:], nn.ParameterList)
    ws[0] = np.zeros(2)
    assert ws[0].shape == (2,) and "(2): Parameter of shape (1,), float32" in repr(ws)
    d = net.scales
    assert "a" in d and list(d) == ["a", "b"] and len(d) == 2
    d.update({"c": cr.ones(2)})
    assert d.pop("b").shape == (1,) and list(d.keys()) == ["a", "c"]
    del d["a"]
    assert [k for k, _ in d.items()] == ["c"]


def test_parameter_containers_bad_input():
    with pytest.raises(nn.ModuleTypeError, match=r"ParameterList holds Parameters .* got str"):
        nn.ParameterList(["w"])
    with pytest.raises(nn.ModuleTypeError, match="extend needs an iterable of Parameters"):
        nn.ParameterList().extend(cr.ones(2))
    with pytest.raises(cr.IndexingError, match="index 2 is out of range for ParameterList of "
                       "length 1"):  # fmt: skip
        nn.ParameterList([cr.ones(1)])[2]
    with pytest.raises(nn.ModuleNameError, match=r"ParameterDict has no parameter 'x'; it holds "
                       r"'a'"):  # fmt: skip
        nn.ParameterDict({"a": cr.ones(1)})["x"]
    with pytest.raises(cr.DTypeError, match="only floating-point tensors can require gradients"):
        nn.ParameterDict({"a": cr.tensor([1, 2])})

"""The Module contract: registration, traversal, state dicts, hooks, modes, dtype, repr."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from ._helpers import ReLU, rand


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))
        self.register_buffer("running", np.zeros(4, dtype=np.float32))
        self.register_buffer("count", np.zeros((), dtype=np.int64))
        self.register_buffer("scratch", np.zeros(2, dtype=np.float32), persistent=False)
        self.not_a_param = cr.zeros(2)  # a plain Tensor attribute: not registered

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fc(x) * self.scale


def make_model() -> nn.Sequential:
    return nn.Sequential(Block(), ReLU(), nn.Linear(4, 2))


# ---- registration and traversal --------------------------------------------------------
def test_attribute_registration_and_names():
    m = make_model()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.scale", "0.fc.weight", "0.fc.bias", "2.weight", "2.bias"]
    assert [n for n, _ in m.named_buffers()] == ["0.running", "0.count", "0.scratch"]
    assert [n for n, _ in m.named_modules()] == ["", "0", "0.fc", "1", "2"]
    assert [type(c).__name__ for c in m.children()] == ["Block", "ReLU", "Linear"]
    assert len(list(m[0].parameters(recurse=False))) == 1
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert "not_a_param" not in dict(m[0].named_parameters())
    assert m.num_parameters() == 4 + (12 + 4) + (8 + 2)


def test_shared_parameter_is_listed_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, a)
    assert len(list(m.parameters())) == 2
    assert len(list(m.modules())) == 2


def test_reassignment_and_deletion():
    m = Block()
    m.scale = None  # an absent parameter keeps its slot
    assert m.scale is None and "scale" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match=r"nn\.Parameter"):
        m.scale = cr.ones(4)
    with pytest.raises(cr.ChainruleError):
        m.scale = cr.ones(4)
    m.scale = nn.Parameter(np.ones(4, dtype=np.float32))
    del m.fc
    assert "fc" not in dict(m.named_children())
    m.running = np.ones(4, dtype=np.float32)  # a buffer slot takes arrays
    assert isinstance(m.running, cr.Tensor)


def test_registration_errors():
    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(np.zeros(2, dtype=np.float32))

    with pytest.raises(nn.ModuleError, match=r"super\(\)\.__init__"):
        Early()
    m = nn.Module()
    with pytest.raises(KeyError, match=r"'\.'"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError):
        m.register_parameter("w", cr.zeros(2))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("training", None)
    m.register_buffer("b", None)
    with pytest.raises(KeyError, match="already a buffer"):
        m.add_module("b", nn.Identity())
    with pytest.raises(nn.ModuleError, match="no forward"):
        m(cr.zeros(1))


# ---- state dicts ---------------------------------------------------------------------------
def test_state_dict_round_trip_copies_into_existing_arrays():
    cr.manual_seed(0)
    a, b = make_model(), make_model()
    with cr.no_grad():
        a[0].running.data[...] = 3.0
    sd = a.state_dict()
    assert list(sd) == ["0.scale", "0.running", "0.count", "0.fc.weight", "0.fc.bias",
                        "2.weight", "2.bias"]  # fmt: skip
    assert "0.scratch" not in sd  # non-persistent
    assert not any(t.requires_grad for t in sd.values())
    w = b[2].weight
    w_array = w.data
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b[2].weight is w and w.data is w_array  # same Parameter, same array
    x = rand(5, 3)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    np.testing.assert_array_equal(b[0].running.numpy(), 3.0)
    # values are copies, not aliases
    with cr.no_grad():
        a[2].weight.data[...] = 0
    assert not np.all(b[2].weight.numpy() == 0)


def test_load_casts_to_the_model_dtype():
    m = nn.Linear(2, 3)
    sd = {k: v.numpy().astype(np.float64) + 1 for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert m.weight.dtype == np.float32
    np.testing.assert_allclose(m.weight.numpy(), sd["weight"], rtol=1e-6)


def test_strict_load_lists_missing_unexpected_and_mismatched():
    m = make_model()
    sd = m.state_dict()
    del sd["0.fc.bias"], sd["2.bias"]
    sd["head.weight"] = cr.zeros(1)
    sd["2.weight"] = cr.zeros(3, 4)
    before = m[2].weight.numpy().copy()
    with pytest.raises(nn.StateDictError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, cr.ChainruleError)
    assert "missing keys (2): '0.fc.bias', '2.bias'" in msg
    assert "unexpected keys (1): 'head.weight'" in msg
    assert "'2.weight': checkpoint shape (3, 4), model shape (2, 4)" in msg
    np.testing.assert_array_equal(m[2].weight.numpy(), before)  # nothing copied


def test_non_strict_load_reports_keys_but_shapes_must_match():
    m = make_model()
    sd = m.state_dict()
    del sd["2.bias"]
    sd["extra"] = cr.zeros(1)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["2.bias"] and res.unexpected_keys == ["extra"]
    sd["2.weight"] = cr.zeros(9)
    with pytest.raises(ValueError, match="size mismatch"):
        m.load_state_dict(sd, strict=False)


# ---- hooks ---------------------------------------------------------------------------------
def test_forward_hooks_can_change_inputs_and_outputs_and_be_removed():
    m = nn.Identity()
    seen = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: seen.append(out.item()) or out + 1)
    assert m(cr.tensor(1.0)).item() == 3.0
    assert seen == [2.0]
    h1.remove()
    h1.remove()  # removing twice is harmless
    assert m(cr.tensor(1.0)).item() == 2.0
    h2.remove()
    assert m(cr.tensor(1.0)).item() == 1.0
    with m.register_forward_hook(lambda mod, args, out: out * 10):
        assert m(cr.tensor(1.0)).item() == 10.0
    assert m(cr.tensor(1.0)).item() == 1.0


def test_backward_hook_sees_grads_and_can_replace_grad_input():
    lin = nn.Linear(3, 2)
    calls = []

    def hook(mod, grad_input, grad_output):
        calls.append((mod, grad_input, grad_output))
        return (grad_input[0] * 0,)

    handle = lin.register_backward_hook(hook)
    x = rand(4, 3, requires_grad=True)
    lin(x)
    g = np.ones((4, 2), np.float32)
    dx = lin.backward(g)
    ((mod, gin, gout),) = calls
    assert mod is lin and len(gin) == 1 and gin[0].shape == (4, 3)
    np.testing.assert_array_equal(gout[0], g)
    np.testing.assert_array_equal(dx.numpy(), 0)
    handle.remove()
    lin(x)
    assert np.any(lin.backward(g).numpy() != 0)
    assert len(calls) == 1


# ---- modes, gradients, dtype ----------------------------------------------------------------
def test_train_eval_propagate():
    m = make_model()
    assert all(mod.training for mod in m.modules())
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    with pytest.raises(TypeError):
        m.train("no")


def test_zero_grad_and_requires_grad_():
    m = nn.Linear(3, 2)
    m(rand(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.weight.grad.numpy(), 0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not m(rand(4, 3)).requires_grad


def test_to_double_and_float_keep_parameter_identity():
    m = make_model()
    m(rand(2, 3)).sum().backward()
    w = m[2].weight
    assert m.double() is m
    assert m[2].weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert m[0].running.dtype == np.float64
    assert m[0].count.dtype == np.int64  # integer buffers are not cast
    x = cr.tensor(np.ones((2, 3)))  # float64 input
    assert m(x).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    m.to(dtype=cr.float64)
    assert w.dtype == np.float64
    m.to(cr.float32)
    assert w.dtype == np.float32
    with pytest.raises(cr.DTypeError):
        m.to(dtype=cr.int64)


def test_apply_visits_children_first():
    m = make_model()
    order = []
    assert m.apply(lambda mod: order.append(type(mod).__name__)) is m
    assert order == ["Linear", "Block", "ReLU", "Linear", "Sequential"]


def test_deepcopy_and_pickle_drop_the_recorded_call():
    m = make_model()
    m(rand(2, 3, requires_grad=True))
    c = copy.deepcopy(m)
    assert c._last_call is None and m._last_call is not None
    assert c[2].weight is not m[2].weight
    np.testing.assert_array_equal(c[2].weight.numpy(), m[2].weight.numpy())
    assert isinstance(c[2].weight, nn.Parameter)
    p = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(p(rand(2, 3)).numpy(), m(rand(2, 3)).numpy())


# ---- repr ------------------------------------------------------------------------------------
def test_repr_prints_tree_counts_and_shapes():
    m = nn.Sequential(nn.Linear(4, 8), ReLU(), nn.Linear(8, 1))
    r = repr(m)
    assert r.splitlines() == [
        "Sequential(  # 49 params",
        "  (0): Linear(in_features=4, out_features=8, bias=True)  # 40 params",
        "  (1): ReLU()",
        "  (2): Linear(in_features=8, out_features=1, bias=True)  # 9 params",
        ")",
    ]
    with cr.no_grad():
        m(rand(32, 4))
    lines = repr(m).splitlines()
    assert lines[0] == "Sequential(  # out (32, 1), 49 params"
    assert lines[1].endswith("# out (32, 8), 40 params")
    assert lines[2] == "  (1): ReLU()  # out (32, 8)"
    nested = repr(nn.Sequential(m, nn.Linear(1, 1, bias=False)))
    assert "  (0): Sequential(" in nested and "    (0): Linear(" in nested
    assert "(1): Linear(in_features=1, out_features=1, bias=False)  # 1 params" in nested
    assert repr(nn.Parameter(np.zeros(2, np.float32))).startswith("Parameter containing:")


# ---- errors inside containers ------------------------------------------------------------------
def test_failing_child_is_named_and_keeps_its_type():
    m = nn.Sequential(nn.Linear(4, 8), ReLU(), nn.Linear(7, 1))
    with pytest.raises(cr.ShapeError) as info:
        m(rand(3, 4))
    msg = str(info.value)
    assert msg.startswith("in Sequential[2] (Linear): ")
    assert "(3, 8)" in msg
    assert isinstance(info.value.__cause__, cr.ShapeError)
    assert "Sequential" not in str(info.value.__cause__)


def test_nested_containers_give_the_path():
    inner = nn.Sequential(nn.Linear(4, 8), nn.Linear(7, 1))
    outer = nn.Sequential(nn.Identity(), inner)
    with pytest.raises(ValueError) as info:
        outer(rand(3, 4))
    assert str(info.value).startswith(
        "in Sequential[1] (Sequential): in Sequential[1] (Linear): linear"
    )
    assert "Sequential" not in str(info.value.__cause__)  # the original error


def test_foreign_errors_get_a_note():
    class Boom(nn.Module):
        def forward(self, x):
            raise KeyError("boom")

    m = nn.Sequential(nn.Sequential(nn.Identity(), Boom()))
    with pytest.raises(KeyError) as info:
        m(rand(1))
    assert info.value.__notes__ == ["  in Sequential[1] (Boom)", "  in Sequential[0] (Sequential)"]


def test_assigning_a_buffer_registers_it() -> None:
    class Stats(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mean = nn.Buffer(cr.zeros(3))
            self.scratch = nn.Buffer(np.ones(2), persistent=False)
            self.scale = nn.Parameter(np.ones(3, np.float32))

    m = Stats()
    assert [n for n, _ in m.named_buffers()] == ["mean", "scratch"]
    assert list(m.state_dict()) == ["scale", "mean"]  # non-persistent buffers are not saved
    assert type(m.mean) is cr.Tensor and not m.mean.requires_grad
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    m.mean = nn.Buffer(np.full(3, 2.0))  # reassigning replaces it, still a buffer
    assert float(m.state_dict()["mean"].numpy()[0]) == 2.0
    m.double()
    assert m.mean.dtype == np.float64 and m.scratch.dtype == np.float64

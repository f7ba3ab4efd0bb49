"""Every entry of the module oracle (chainrule.testing.modules.MODULES) against every check:
input and parameter Jacobians against central differences, forward vs reverse mode, the
modular backward against autodiff, and the torch module with the same weights.

Nothing here is module-specific: adding a ModuleInfo to MODULES is enough for a module to
be checked, and a Module class exported by chainrule.nn without an entry fails
``test_every_exported_module_has_an_entry``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn
from chainrule.testing import modules
from chainrule.testing.modules import CHECKS, MODULES, ModuleInfo, get_module

NUMERIC_CHECKS = [name for name in CHECKS if name != "torch"]


def _has_float_inputs(info: ModuleInfo) -> bool:
    return any(modules._float_positions(s) for s in info.samples())


def _has_params(info: ModuleInfo) -> bool:
    return any(p.requires_grad for p in info.build().parameters())


def _applies(info: ModuleInfo, check: str) -> bool:
    """Whether ``check`` should give a number for at least one case of ``info``."""
    if not any(info.applies(check, mode) for mode in info.modes):
        return False
    if check == "input_jac":
        return _has_float_inputs(info)
    if check == "param_jac":
        return _has_params(info)
    if check == "fwd_rev":
        return info.supports_fwd and (_has_float_inputs(info) or _has_params(info))
    if check == "torch":
        return info.torch_ctor is not None
    return True


def _params(checks: list[str]) -> list:
    return [
        pytest.param(info, check, id=f"{info.name}-{check}")
        for info in MODULES
        for check in checks
        if _applies(info, check)
    ]


def _run(info: ModuleInfo, check: str) -> None:
    fn: Callable = CHECKS[check]
    errors = [fn(info, case) for case in info.cases()]
    assert any(e is not None for e in errors), f"{check} applied to no case of {info.name}"


@pytest.mark.parametrize(("info", "check"), _params(NUMERIC_CHECKS))
def test_module_check(info: ModuleInfo, check: str) -> None:
    """Jacobians vs central differences, forward vs reverse, modular backward vs autodiff
    (each check raises GradcheckError naming the case on a mismatch)."""
    _run(info, check)


@pytest.mark.torch
@pytest.mark.parametrize(("info", "check"), _params(["torch"]))
def test_module_vs_torch(info: ModuleInfo, check: str) -> None:
    """Outputs, input and parameter gradients and buffers against the torch module with the
    same weights, in train and eval mode."""
    pytest.importorskip("torch")
    _run(info, check)


def _plain(info: ModuleInfo) -> bool:
    """Whether ``nn.utils.check_module`` can take the entry in eval mode: positional Tensor
    arguments only, and both Jacobians checkable."""
    if "eval" not in info.modes or not all(
        info.applies(c, "eval") for c in ("input_jac", "param_jac", "backward")
    ):
        return False
    return all(
        not s.kwargs and not any(isinstance(a, tuple) for a in s.args) for s in info.samples()
    )


def _check_module_params() -> list:
    return [pytest.param(info, id=info.name) for info in MODULES if _plain(info)]


@pytest.mark.parametrize("info", _check_module_params())
def test_check_module_passes_on_the_table(info: ModuleInfo) -> None:
    """The user's one-call check agrees with the table (eval mode)."""
    for sample in info.samples():
        args = [cr.tensor(a) for a in sample.args]
        assert nn.utils.check_module(info.build("eval"), *args)


def test_check_module_handles_nested_and_none_outputs() -> None:
    """Regression: check_module crashed (AttributeError: 'tuple' object has no attribute
    'shape') on modules returning nested tuples, such as an LSTM's (out, (h_n, c_n))."""

    class Nested(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x: cr.Tensor) -> tuple:
            y = self.fc(x)
            return y, (y.tanh(), None)

    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    assert nn.utils.check_module(Nested(), x)


# ---- the table itself -------------------------------------------------------------------


def test_every_exported_module_has_an_entry() -> None:
    """A Module subclass exported by chainrule.nn without a table entry fails here."""
    covered: set[type] = set()
    for info in MODULES:
        covered |= info.classes()
    missing = modules.exported_module_classes() - covered
    assert not sorted(c.__name__ for c in missing)


def test_losses_have_every_reduction_and_layers_both_modes() -> None:
    names = {info.name for info in MODULES}
    for loss in ("MSELoss", "L1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
                 "BCEWithLogitsLoss", "HingeLoss", "SmoothL1Loss", "KLDivLoss",
                 "MarginRankingLoss", "SoftMarginLoss", "PoissonNLLLoss",
                 "GaussianNLLLoss", "CosineEmbeddingLoss", "HingeEmbeddingLoss",
                 "TripletMarginLoss", "MultiLabelSoftMarginLoss"):  # fmt: skip
        assert {f"{loss}[{r}]" for r in ("mean", "sum", "none")} <= names
    for name in ("BatchNorm1d", "BatchNorm2d", "Dropout", "NoisyReLU", "Sequential"):
        assert get_module(name).modes == ("train", "eval")


def test_samples_are_deterministic_and_float64() -> None:
    for info in MODULES:
        a, b = info.samples(), info.samples()
        assert len(a) == len(b) > 0, info.name
        for s, t in zip(a, b):
            for x, y in zip(modules._arrays(s.args), modules._arrays(t.args)):
                np.testing.assert_array_equal(x, y)
                assert x.dtype in (np.float64, np.int64, np.bool_), (info.name, x.dtype)


def test_build_is_reproducible_and_leaves_the_rng_alone() -> None:
    info = get_module("Linear")
    cr.manual_seed(3)
    state = backend.get_rng_state()
    w1 = info.build().weight.numpy()
    w2 = info.build("eval").weight.numpy()
    np.testing.assert_array_equal(w1, w2)
    assert w1.dtype == np.float64
    case = get_module("Dropout").cases()[0]
    modules.check_backward(get_module("Dropout"), case)
    assert backend.get_rng_state() == state


def test_run_modules_and_format() -> None:
    rows = modules.run_modules(
        [get_module("Tanh"), get_module("Linear")], ["input_jac", "backward"]
    )
    assert [r["module"] for r in rows] == ["Tanh", "Linear"]
    assert all(r["ok"] and r["cases"] == 2 * len(get_module(r["module"]).samples()) for r in rows)
    assert rows[1]["input_jac"] < 1e-6
    text = modules.format_modules(rows)
    assert "input_jac" in text and "param_jac" not in text and "FAIL" not in text


def test_run_modules_reports_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import nn as nn_ops

    def backward(ctx, g):  # the weight gradient doubled
        gx, gw, *rest = nn_ops_backward(ctx, g)
        return (gx, gw * 2, *rest)

    nn_ops_backward = nn_ops.Linear.backward
    monkeypatch.setattr(nn_ops.Linear, "backward", staticmethod(backward))
    rows = modules.run_modules([get_module("Linear")], ["param_jac"])
    assert not rows[0]["ok"]
    text = modules.format_modules(rows)
    assert "FAIL" in text and "parameter 'weight'" in text


def test_module_oracle_imports_no_torch() -> None:
    code = (
        "import sys, chainrule.testing.modules; "
        "print(any(m in sys.modules for m in ('torch', 'hypothesis')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- the checks catch wrong modules ---------------------------------------------------------


def _wrong_vjp(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import nn as nn_ops

    original = nn_ops.Linear.backward

    def backward(ctx, g):  # the input gradient negated
        gx, *rest = original(ctx, g)
        return (None if gx is None else -gx, *rest)

    monkeypatch.setattr(nn_ops.Linear, "backward", staticmethod(backward))


def test_wrong_input_vjp_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    info = get_module("Linear")
    case = info.cases()[0]
    _wrong_vjp(monkeypatch)
    with pytest.raises(cr.GradcheckError, match=r"Linear \[train.*Jacobian of input 0"):
        modules.check_input_jacobian(info, case)
    with pytest.raises(cr.GradcheckError, match="forward-mode vs reverse-mode"):
        modules.check_fwd_rev(info, case)


def test_wrong_jvp_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import nn as nn_ops

    original = nn_ops.Linear.jvp
    monkeypatch.setattr(nn_ops.Linear, "jvp", staticmethod(lambda *a: original(*a) * 2))
    info = get_module("Graph[skip connection]")
    with pytest.raises(cr.GradcheckError, match="forward-mode vs reverse-mode"):
        modules.check_fwd_rev(info, info.cases()[0])


def test_wrong_modular_backward_is_caught() -> None:
    """A backward hook that changes dL/dx makes the modular backward disagree with autodiff."""

    def ctor() -> nn.Module:
        m = nn.Linear(3, 2)
        m.register_backward_hook(lambda mod, gin, gout: tuple(g * 2 for g in gin))
        return m

    info = ModuleInfo(name="hooked Linear", ctor=ctor, inputs=modules._x((4, 3)))
    with pytest.raises(cr.GradcheckError, match="modular backward vs autodiff, gradient of input"):
        modules.check_backward(info, info.cases()[0])


@pytest.mark.torch
def test_torch_check_compares_buffers_and_names() -> None:
    pytest.importorskip("torch")
    info = ModuleInfo(
        name="BatchNorm1d momentum 0.5 vs 0.1",
        ctor=lambda: nn.BatchNorm1d(3, momentum=0.5),
        torch_ctor=modules._tnn("BatchNorm1d", 3),
        inputs=modules._x((4, 3)),
    )
    train, evaluation = info.cases()
    with pytest.raises(cr.GradcheckError, match="buffer 'running_mean'"):
        modules.check_torch(info, train)
    assert modules.check_torch(info, evaluation) is not None  # eval: no update, same output
    renamed = ModuleInfo(
        name="Linear vs Bilinear",
        ctor=lambda: nn.Linear(3, 2),
        torch_ctor=modules._tnn("Bilinear", 3, 3, 2),
        inputs=modules._x((4, 3)),
    )
    with pytest.raises(RuntimeError, match="state_dict"):
        modules.check_torch(renamed, renamed.cases()[0])

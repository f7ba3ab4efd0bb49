"""chainrule on a GPU: the same computation on ``device="cuda"`` (CuPy) as on the CPU.

Every sample of every oracle table (ops and modules) runs twice in float64, once on each
device, and the outputs, the reverse-mode gradients for a random cotangent, the
forward-mode tangents, the modular backward and the buffers must agree; so must a few
optimiser steps, a short training run and the autodiff tools. The CPU results are proven
by the oracles elsewhere, so agreeing with them proves the GPU path.

Skipped, module-wide, where CuPy or a CUDA device is missing (CI has neither).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
try:
    _gpus = cupy.cuda.runtime.getDeviceCount()
except Exception:  # no driver, no device
    _gpus = 0
if not _gpus:
    pytest.skip("no CUDA device", allow_module_level=True)

import chainrule as cr  # noqa: E402
from chainrule import backend, nn  # noqa: E402
from chainrule.nn.module import _leaves, _map  # noqa: E402
from chainrule.tensor import Tensor  # noqa: E402
from chainrule.testing.modules import MODULES, ModuleCase, ModuleInfo, _call  # noqa: E402
from chainrule.testing.oracle import OpInfo, Sample  # noqa: E402
from chainrule.testing.tables import all_ops  # noqa: E402

pytestmark = pytest.mark.cuda

RTOL, ATOL = 1e-7, 1e-9  # float64 on both devices: only summation order differs


def _host(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        assert x.device in ("cpu", "cuda")
        return np.asarray(x.numpy())
    return np.asarray(backend.to_device(x, "cpu"))


def _same(got: Any, want: Any, what: str) -> None:
    g, w = _host(got), _host(want)
    assert g.shape == w.shape, f"{what}: shape {g.shape} on cuda, {w.shape} on cpu"
    assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} on cuda, {w.dtype} on cpu"
    np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=what)


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _raw(a: Any, device: str) -> Any:
    """Sample data that is not differentiated (indices, masks) on ``device``, nested too."""
    if isinstance(a, np.ndarray):
        return backend.to_device(a, device)
    if isinstance(a, tuple | list):
        return type(a)(_raw(x, device) for x in a)
    return a


def _cotangent(shape: tuple, dtype: Any, seed: int, device: str) -> Tensor:
    u = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return cr.tensor(u, device=device)


# ---- ops ----------------------------------------------------------------------------------


def _op_cases() -> list:
    return [
        pytest.param(op, s, id=f"{op.name}-{k}")
        for op in all_ops()
        for k, s in enumerate(op.samples())
    ]


def _run_op(op: OpInfo, sample: Sample, device: str) -> tuple[list, list, list]:
    """Outputs, gradients of the floating inputs for a seeded cotangent, and the forward-
    mode tangents for seeded input tangents, on ``device``."""
    pos = [i for i, a in enumerate(sample.args) if _is_float(a)]
    kwargs = {k: _raw(v, device) for k, v in sample.kwargs.items()}

    def f(*xs: Tensor) -> Any:
        args = [_raw(a, device) for a in sample.args]
        for p, x in zip(pos, xs):
            args[p] = x
        out = op.fn(*args, **kwargs)
        return tuple(out) if isinstance(out, tuple | list) else (out,)

    leaves = [cr.tensor(sample.args[p], device=device, requires_grad=True) for p in pos]
    outs = f(*leaves)
    seed = zlib.crc32(op.name.encode())
    terms = [
        (o * _cotangent(o.shape, o.dtype, seed + k, o.device)).sum()
        for k, o in enumerate(outs)
        if o.requires_grad
    ]
    if terms:
        sum(terms[1:], terms[0]).backward()
    grads = [x.grad for x in leaves]
    tangents: list = []
    if op.supports_fwd and pos:
        primals = [cr.tensor(sample.args[p], device=device) for p in pos]
        dirs = [_cotangent(x.shape, x.dtype, seed + 100 + i, device) for i, x in enumerate(primals)]
        _, tangents = cr.jvp(lambda *xs: f(*xs), primals, dirs)
        tangents = [t for t, o in zip(tangents, outs) if o.dtype.kind == "f"]
    return list(outs), grads, list(tangents)


@pytest.mark.parametrize(("op", "sample"), _op_cases())
def test_op_on_cuda_matches_cpu(op: OpInfo, sample: Sample) -> None:
    want = _run_op(op, sample, "cpu")
    got = _run_op(op, sample, "cuda")
    for kind, g_list, w_list in zip(("output", "gradient", "tangent"), got, want):
        assert len(g_list) == len(w_list)
        for k, (g, w) in enumerate(zip(g_list, w_list)):
            if w is None:
                assert g is None, f"{op.name}: {kind} {k} is None on cpu only"
                continue
            assert isinstance(g, Tensor), f"{op.name}: {kind} {k}"
            if kind == "gradient":  # (outputs and their tangents: to_device's are on the CPU)
                assert g.device == "cuda", f"{op.name}: {kind} {k} on {g.device}"
            _same(g, w, f"{op.name} [{sample.describe()}]: {kind} {k}")


# ---- modules ------------------------------------------------------------------------------


def _module_cases() -> list:
    return [
        pytest.param(info, case, id=f"{info.name}-{case.mode}-{k}")
        for info in MODULES
        for k, case in enumerate(info.cases())
    ]


def _run_module(info: ModuleInfo, case: ModuleCase, device: str, modular: bool) -> dict:
    """Outputs, input and parameter gradients, and buffers after one forward and backward
    (autodiff of ``sum(u * y)``, or ``m.backward(u)`` when ``modular``) on ``device``."""
    m = info.build(case.mode).to(device=device)
    leaves = [
        cr.tensor(a, device=device, requires_grad=_is_float(a)) for a in _leaves(case.sample.args)
    ]
    it = iter(leaves)
    args = _map(tuple(case.sample.args), lambda _: next(it))
    kwargs = {
        k: cr.tensor(v, device=device) if isinstance(v, np.ndarray) else v
        for k, v in case.sample.kwargs.items()
    }
    y = _call(info, m, args, kwargs)
    seed = zlib.crc32(info.name.encode())
    counter = iter(range(1000))

    def cotangent(o: Any) -> Any:
        if not (isinstance(o, Tensor) and o.dtype.kind == "f" and o.requires_grad):
            return None
        return _cotangent(o.shape, o.dtype, seed + next(counter), device)

    cts = _map(y, cotangent)
    pairs = [(o, u) for o, u in zip(_leaves(y), _leaves(cts)) if u is not None]
    if modular:
        got = m.backward(cts)
        gx = _leaves(got if len(leaves) == 1 else tuple(got))
        grads = [g for g, x in zip(gx, leaves) if x.dtype.kind == "f"]
    else:
        if pairs:
            terms = [(o * u).sum() for o, u in pairs]
            sum(terms[1:], terms[0]).backward()
        grads = [x.grad for x in leaves if x.dtype.kind == "f"]
    return {
        "outputs": [o for o in _leaves(y) if isinstance(o, Tensor)],
        "input grads": grads,
        "param grads": {n: p.grad for n, p in m.named_parameters()},
        "state": m.state_dict(),
    }


@pytest.mark.parametrize(("info", "case"), _module_cases())
def test_module_on_cuda_matches_cpu(info: ModuleInfo, case: ModuleCase) -> None:
    want = _run_module(info, case, "cpu", modular=False)
    for modular in (False, True):
        if modular and not info.applies("backward", case.mode):
            continue
        got = _run_module(info, case, "cuda", modular)
        what = f"{info.name} [{case.describe()}]{' modular' if modular else ''}"
        for k, (g, w) in enumerate(zip(got["outputs"], want["outputs"], strict=True)):
            _same(g, w, f"{what}: output {k}")
        for k, (g, w) in enumerate(zip(got["input grads"], want["input grads"], strict=True)):
            if w is None or g is None:
                assert (g is None and w is None) or not modular, f"{what}: input grad {k}"
                continue
            _same(g, w, f"{what}: gradient of input {k}")
        for n, w in want["param grads"].items():
            g = got["param grads"][n]
            assert (g is None) == (w is None), f"{what}: gradient of {n}"
            if w is not None:
                assert g.device == "cuda"
                _same(g, w, f"{what}: gradient of {n}")
        assert got["state"].keys() == want["state"].keys()
        for n, w in want["state"].items():
            _same(got["state"][n], w, f"{what}: state {n}")


def test_module_to_moves_parameters_buffers_and_back() -> None:
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m.cuda()
    assert {p.device for p in m.parameters()} == {"cuda"}
    assert all(isinstance(b, Tensor) and b.device == "cuda" for b in m.buffers())
    m.cpu()
    assert {p.device for p in m.parameters()} == {"cpu"}


# ---- optimisers and training --------------------------------------------------------------

_OPTIMISERS = {
    "sgd": lambda ps: cr.optim.SGD(ps, lr=0.1),
    "sgd-momentum-nesterov-wd": lambda ps: cr.optim.SGD(
        ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2
    ),
    "adam": lambda ps: cr.optim.Adam(ps, lr=1e-2),
    "adam-amsgrad-wd": lambda ps: cr.optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "adamw": lambda ps: cr.optim.AdamW(ps, lr=1e-2),
    "rmsprop-centered-momentum": lambda ps: cr.optim.RMSprop(
        ps, lr=1e-2, centered=True, momentum=0.9
    ),
    "adagrad": lambda ps: cr.optim.Adagrad(ps, lr=0.1, weight_decay=1e-2),
    "adadelta": lambda ps: cr.optim.Adadelta(ps, weight_decay=1e-2),
    "adamax": lambda ps: cr.optim.Adamax(ps, lr=1e-2),
    "nadam-decoupled": lambda ps: cr.optim.NAdam(
        ps, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True
    ),
    "radam": lambda ps: cr.optim.RAdam(ps, lr=1e-2),
    "rprop": lambda ps: cr.optim.Rprop(ps, lr=1e-2),
    "asgd": lambda ps: cr.optim.ASGD(ps, lr=0.1, t0=2, weight_decay=1e-2),
    "adafactor": lambda ps: cr.optim.Adafactor(ps, lr=1e-2, weight_decay=1e-2),
}


def _train(make_opt: Any, device: str, steps: int = 5) -> list[np.ndarray]:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double().to(device)
    opt = make_opt(list(model.parameters()))
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((16, 6)), device=device)
    y = cr.tensor(rng.integers(0, 3, 16), device=device)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return [p.numpy() for p in model.parameters()]


@pytest.mark.parametrize("name", sorted(_OPTIMISERS))
def test_optimiser_steps_on_cuda_match_cpu(name: str) -> None:
    for k, (g, w) in enumerate(zip(_train(_OPTIMISERS[name], "cuda"),
                                   _train(_OPTIMISERS[name], "cpu"))):  # fmt: skip
        _same(g, w, f"{name}: parameter {k} after 5 steps")


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_steps_on_cuda_match_cpu(line_search_fn: str | None) -> None:
    """LBFGS needs a closure, so it has its own loop (the table above calls ``step()``);
    its flat state vectors stay on the device and come back through a state dict."""

    def train(device: str) -> tuple[list[np.ndarray], dict, Any]:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double().to(device)
        params = list(model.parameters())
        opt = cr.optim.LBFGS(params, history_size=3, max_iter=5, line_search_fn=line_search_fn)
        rng = np.random.default_rng(1)
        x = cr.tensor(rng.standard_normal((16, 6)), device=device)
        y = cr.tensor(rng.integers(0, 3, 16), device=device)
        loss_fn = nn.CrossEntropyLoss()

        def closure() -> Tensor:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss

        for _ in range(2):
            opt.step(closure)
        saved = opt.state_dict()
        opt.load_state_dict(saved)  # back onto the device
        for _ in range(2):
            opt.step(closure)
        return [p.numpy() for p in params], saved, opt.state[params[0]]

    got, got_saved, got_state = train("cuda")
    want, want_saved, want_state = train("cpu")
    for k, (g, w) in enumerate(zip(got, want)):
        _same(g, w, f"LBFGS {line_search_fn}: parameter {k} after 4 steps")
    assert got_state["func_evals"] == want_state["func_evals"]
    assert backend.device_of(got_state["d"]) == "cuda"
    assert all(backend.device_of(v) == "cuda" for v in got_state["old_dirs"])
    g0, w0 = got_saved["state"][0], want_saved["state"][0]
    assert isinstance(g0["d"], np.ndarray) and isinstance(g0["old_stps"][0], np.ndarray)
    _same(g0["prev_flat_grad"], w0["prev_flat_grad"], "LBFGS: saved prev_flat_grad")


def test_fit_trains_digits_on_cuda() -> None:
    """The training loop moves batches to the model's device and learns."""
    X, y = cr.datasets.digits()
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).cuda()
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data, val = (X[:1500], y[:1500]), (X[1500:], y[1500:])
    hist = cr.train.fit(model, nn.CrossEntropyLoss(), opt, data, val_data=val, epochs=10,
                        progress=False, seed=0)  # fmt: skip
    assert {p.device for p in model.parameters()} == {"cuda"}
    assert hist.history["val_accuracy"][-1] > 0.9


def test_chainrule_train_on_cuda(tmp_path: Any, capsys: Any) -> None:
    from chainrule.cli import main

    for args in (["--epochs", "3"], ["--dataset", "circles", "--epochs", "2"]):  # + boundary
        out = tmp_path / args[1]
        assert main(["train", "--device", "cuda", "--no-progress", "--out", str(out), *args]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["device"] == "cuda"
        assert metrics["results"]["test"]["accuracy"] > 0.8
    assert "cuda" in capsys.readouterr().out


def test_diagnostics_on_a_cuda_model_match_the_cpu() -> None:
    """report() and overfit_check() put NumPy batches on the model's device, as fit does."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    rows = {}
    for device in ("cpu", "cuda"):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()
        model.to(device=device)
        rows[device] = cr.diagnostics.report(model, x, y, nn.CrossEntropyLoss()).rows
        opt = cr.optim.Adam(model.parameters(), lr=0.05)
        assert cr.diagnostics.overfit_check(model, nn.CrossEntropyLoss(), opt, x, y).passed
    for got, want in zip(rows["cuda"], rows["cpu"], strict=True):
        for key in ("act_mean", "act_std", "dead_fraction", "grad_norm", "update_ratio"):
            if want[key] is None:
                assert got[key] is None, key
            else:
                assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key


def test_state_dict_round_trip_from_cuda(tmp_path: Any) -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5)).cuda()
    path = tmp_path / "m.ckpt"
    cr.save(model.state_dict(), path)
    cpu_model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5))
    cpu_model.load_state_dict(cr.load(path))
    for (n, a), b in zip(model.state_dict().items(), cpu_model.state_dict().values()):
        _same(a, b, n)
    model.load_state_dict(cpu_model.state_dict())  # CPU arrays into a CUDA model
    assert {p.device for p in model.parameters()} == {"cuda"}


# ---- autodiff tools -----------------------------------------------------------------------


def test_higher_order_and_transforms_on_cuda() -> None:
    def f(x: Tensor) -> Tensor:
        return (cr.tanh(x) * x.exp()).sum()

    a = np.linspace(-1, 1, 5)
    for name, fn in {
        "grad": cr.grad(f),
        "hessian": lambda x: cr.hessian(f, x),
        "jacobian-fwd": lambda x: cr.jacobian(lambda t: cr.tanh(t) * t.exp(), x, mode="fwd"),
    }.items():
        got = fn(cr.tensor(a, device="cuda"))
        assert got.device == "cuda", name
        _same(got, fn(cr.tensor(a)), name)


def test_gradcheck_on_cuda() -> None:
    x = cr.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), device="cuda", requires_grad=True)
    assert cr.gradcheck(lambda t: (t.log() * t).sum(axis=0), [x])


def test_checkpoint_on_cuda_matches_plain() -> None:
    def block(x: Tensor) -> Tensor:
        for _ in range(5):
            x = cr.tanh(x * 1.1)
        return x

    grads = []
    for use_checkpoint in (False, True):
        x = cr.tensor(np.linspace(-1, 1, 8), device="cuda", requires_grad=True)
        y = cr.checkpoint(block, x) if use_checkpoint else block(x)
        y.sum().backward()
        grads.append(x.grad)
    _same(grads[1], grads[0], "checkpointed gradient")


def test_detect_anomaly_on_cuda_names_the_op() -> None:
    x = cr.tensor(np.array([1.0, -1.0]), device="cuda", requires_grad=True)
    with pytest.raises(cr.AnomalyError, match="log"), cr.detect_anomaly():
        cr.log(x).sum()


def test_mixing_devices_is_a_clear_error() -> None:
    a = cr.tensor(np.ones(3), device="cuda", requires_grad=True)
    b = cr.tensor(np.ones((2, 3)))
    want = r"add: inputs are on different devices \(input 0 on cuda with shape \(3,\), input 1 on"
    for x, y in ((a, b), (a.detach(), b)):  # recorded and not
        with pytest.raises(cr.DeviceError, match=want):
            x + y
    assert (a * 2.0).device == "cuda"  # a Python number goes anywhere


def test_numpy_gradient_and_labels_meet_a_cuda_tensor() -> None:
    """Host arrays given as a backward gradient, a jvp tangent or class labels are moved to
    the tensor's device."""
    x = cr.tensor(np.arange(3.0), device="cuda", requires_grad=True)
    (x * x).backward(np.ones(3))
    _same(x.grad, np.arange(3.0) * 2, "backward with a NumPy gradient")
    _, t = cr.jvp(lambda v: v * v, (x.detach(),), (np.ones(3),))
    _same(t, np.arange(3.0) * 2, "jvp with a NumPy tangent")
    logits = cr.tensor(np.eye(3) * 5, device="cuda")
    loss = nn.CrossEntropyLoss()(logits, np.array([0, 1, 2]))
    _same(loss, nn.CrossEntropyLoss()(cr.tensor(np.eye(3) * 5), np.array([0, 1, 2])), "CE")
    w, labels = np.array([1.0, 2.0, 3.0]), np.array([0, -100, 2])
    got = cr.nn.functional.cross_entropy(logits, labels, w, label_smoothing=0.1)
    want = cr.nn.functional.cross_entropy(cr.tensor(np.eye(3) * 5), labels, w, label_smoothing=0.1)
    _same(got, want, "CE with NumPy class weights")
    got = cr.nn.functional.binary_cross_entropy_with_logits(logits, np.eye(3), pos_weight=w)
    want = cr.nn.functional.binary_cross_entropy_with_logits(
        cr.tensor(np.eye(3) * 5), np.eye(3), pos_weight=w
    )
    _same(got, want, "BCE with a NumPy pos_weight")

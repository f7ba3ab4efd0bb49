"""Core autodiff benchmarks: chainrule beside PyTorch eager, in one process.

Workloads (identical float32 data and initial weights on both sides):

* ``tiny op fwd+bwd``: ``x`` of shape (4,) requiring grad, ``y = (x * x).sum()``,
  ``y.backward()``, ``x.grad = None``. Measures per-op dispatch overhead.
* ``chain bwd (1000 x mul)``: ``y = x``; 1,000 times ``y = y * 1.0001``; ``y.sum()``. The
  graph is built outside the timed region each repeat and only ``backward()`` is timed;
  the build time is reported on its own row. A ``tanh`` chain is reported for information,
  and so is the ``mul`` chain's backward on the minimal engine (below): what any Python
  engine that records a node per op pays here.
* ``MLP 2-16-16-1 step``: one SGD step of a 2-16-16-1 tanh MLP at batch 32 written with core
  ops only (``x @ W + b``, ``tanh``, ``(d * d).mean()``, ``loss.backward()``, then
  ``p -= lr * p.grad; p.grad = None`` under ``no_grad``). The NumPy floor is the same
  arithmetic written by hand in NumPy (forward, backward and update, no autodiff). The
  minimal engine (``_minimal_engine.py``) is the same step on the leanest define-by-run
  engine that can run it (six ops, no checks): what recording a graph in Python costs at
  all, compared with chainrule's step that also updates the arrays directly.

Targets (issue 2, throughput vs PyTorch 2.13 CPU eager with 2 threads): the MLP step
>= 2x PyTorch (and not below 1.5x); the 1,000-op chain backward < 3 ms.

Usage: ``python benchmarks/bench_core.py [--quick]`` (``--help`` lists the other options:
``--gc-off``, ``--strict``, ``--wait-quiet S``, ``--torch-threads N``, ``--json PATH``).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("chainrule") is None:  # run from a checkout without installing
    sys.path.insert(0, _REPO)

import _harness as H  # noqa: E402  (sets the thread variables before NumPy is imported)
import _minimal_engine  # noqa: E402
import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402

TORCH = H.setup_torch()

CHAIN_LEN = 1000
CHAIN_SHAPE = (16,)
MLP_SIZES = (2, 16, 16, 1)
MLP_BATCH = 32
MLP_LR = 0.05

MLP_TARGET = 2.0  # torch ms / chainrule ms
MLP_FLOOR = 1.5
CHAIN_TARGET_MS = 3.0


@dataclass
class Config:
    """How hard to time: iterations per repeat and number of repeats per workload."""

    op_iter: int
    mlp_iter: int
    repeats: int
    chain_repeats: int
    warmup: int


FULL = Config(op_iter=2000, mlp_iter=500, repeats=15, chain_repeats=60, warmup=200)
QUICK = Config(op_iter=500, mlp_iter=150, repeats=5, chain_repeats=15, warmup=50)


# ---- a. per-op overhead ----------------------------------------------------------------
def make_tiny_op() -> dict[str, Callable[[], Any]]:
    """Forward + backward of ``(x * x).sum()`` on a (4,) tensor, grad reset each call."""
    x0 = np.arange(1, 5, dtype=np.float32)
    xc = cr.tensor(x0, requires_grad=True)

    def cr_step() -> None:
        y = (xc * xc).sum()
        y.backward()
        xc.grad = None

    fns: dict[str, Callable[[], Any]] = {"chainrule": cr_step}
    if TORCH is not None:
        xt = TORCH.tensor(x0, requires_grad=True)

        def torch_step() -> None:
            y = (xt * xt).sum()
            y.backward()
            xt.grad = None

        fns["torch"] = torch_step
    return fns


# ---- b. a long chain -------------------------------------------------------------------
def make_chain(op: str) -> dict[str, Callable[[], Callable[[], Any]]]:
    """Setups that build a ``CHAIN_LEN``-op chain and return its ``backward`` to time."""
    x0 = np.linspace(-1, 1, CHAIN_SHAPE[0], dtype=np.float32).reshape(CHAIN_SHAPE)
    xc = cr.tensor(x0, requires_grad=True)

    def cr_setup() -> Callable[[], Any]:
        y = xc
        if op == "mul":
            for _ in range(CHAIN_LEN):
                y = y * 1.0001
        else:
            for _ in range(CHAIN_LEN):
                y = y.tanh()
        loss = y.sum()
        xc.grad = None
        return loss.backward

    setups: dict[str, Callable[[], Callable[[], Any]]] = {"chainrule": cr_setup}
    if TORCH is not None:
        xt = TORCH.tensor(x0, requires_grad=True)

        def torch_setup() -> Callable[[], Any]:
            y = xt
            if op == "mul":
                for _ in range(CHAIN_LEN):
                    y = y * 1.0001
            else:
                for _ in range(CHAIN_LEN):
                    y = y.tanh()
            loss = y.sum()
            xt.grad = None
            return loss.backward

        setups["torch"] = torch_setup
    if op == "mul":  # the floor: the same chain on the leanest engine (mul only)
        xm = _minimal_engine.T(x0.copy(), True)

        def minimal_setup() -> Callable[[], Any]:
            y = xm
            for _ in range(CHAIN_LEN):
                y = y * 1.0001
            loss = y.mean()  # (no sum op there: the mean's gradient costs the same)
            xm.grad = None
            return lambda: _minimal_engine.backward(loss)

        setups["minimal"] = minimal_setup
    return setups


# ---- c. the tiny MLP -------------------------------------------------------------------
def mlp_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Float32 inputs (32, 2), targets (32, 1) and initial [W1, b1, W2, b2, W3, b3]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    t = (np.sin(2 * x[:, :1]) * np.cos(x[:, 1:])).astype(np.float32)
    params = []
    for fan_in, fan_out in itertools.pairwise(MLP_SIZES):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32))
    return x, t, params


def make_cr_mlp(seed: int = 0, update: str = "tensor") -> Callable[[], Any]:
    """One chainrule SGD step (returns the loss Tensor) on fresh copies of the weights.

    ``update="tensor"`` writes ``p -= lr * p.grad`` with Tensor ops under ``no_grad`` (the
    benchmarked form, like the torch code); ``update="data"`` writes straight into the
    arrays, ``p.data -= lr * p.grad.data``, as an optimiser working on arrays would.
    """
    x0, t0, p0 = mlp_data(seed)
    x, t = cr.tensor(x0), cr.tensor(t0)
    params = [cr.tensor(p, requires_grad=True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params
    lr = MLP_LR
    on_data = update == "data"

    def step() -> Any:
        h1 = (x @ w1 + b1).tanh()
        h2 = (h1 @ w2 + b2).tanh()
        out = h2 @ w3 + b3
        d = out - t
        loss = (d * d).mean()
        loss.backward()
        if on_data:
            for p in params:
                p.data -= lr * p.grad.data
                p.grad = None
            return loss
        with cr.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    return step


def make_torch_mlp(seed: int = 0) -> Callable[[], Any]:
    """The same step in PyTorch eager: plain leaf tensors, manual SGD under no_grad."""
    torch = TORCH
    x0, t0, p0 = mlp_data(seed)
    x, t = torch.tensor(x0), torch.tensor(t0)
    params = [torch.tensor(p, requires_grad=True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params
    lr = MLP_LR

    def step() -> Any:
        h1 = (x @ w1 + b1).tanh()
        h2 = (h1 @ w2 + b2).tanh()
        out = h2 @ w3 + b3
        d = out - t
        loss = (d * d).mean()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    return step


def make_numpy_mlp(seed: int = 0) -> Callable[[], Any]:
    """The floor: the same step's arithmetic hand-written in NumPy (returns the loss)."""
    x, t, params = mlp_data(seed)
    w1, b1, w2, b2, w3, b3 = params
    lr = np.float32(MLP_LR)
    scale = np.float32(2.0 / t.size)
    xT = np.ascontiguousarray(x.T)

    def step() -> Any:
        h1 = np.tanh(x @ w1 + b1)
        h2 = np.tanh(h1 @ w2 + b2)
        d = h2 @ w3 + b3 - t
        loss = (d * d).mean()
        g = d * scale  # d loss / d out
        gw3, gb3 = h2.T @ g, g.sum(0)
        g = (g @ w3.T) * (1 - h2 * h2)
        gw2, gb2 = h1.T @ g, g.sum(0)
        g = (g @ w2.T) * (1 - h1 * h1)
        gw1, gb1 = xT @ g, g.sum(0)
        for p, gp in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2), (w3, gw3), (b3, gb3)):
            p -= lr * gp
        return loss

    return step


def make_minimal_mlp(seed: int = 0) -> Callable[[], Any]:
    """The same step on ``_minimal_engine`` (SGD on the arrays): what recording a graph in
    Python costs with none of a library's checks and features (returns the loss)."""
    x, t, params = mlp_data(seed)
    step = _minimal_engine.make_mlp_step(x, t, params, MLP_LR)
    return lambda: step().data


def check_mlp_agreement(steps: int = 50) -> str:
    """Run the MLP implementations side by side; report the largest loss gap."""
    cr_step, np_step, min_step = make_cr_mlp(), make_numpy_mlp(), make_minimal_mlp()
    data_step = make_cr_mlp(update="data")
    torch_step = make_torch_mlp() if TORCH is not None else None
    worst_np, worst_torch = 0.0, 0.0
    first = last = 0.0
    for k in range(steps):
        lc = float(cr_step().item())
        others = (np_step(), data_step().item(), min_step())
        worst_np = max(worst_np, *(abs(lc - float(v)) for v in others))
        if torch_step is not None:
            worst_torch = max(worst_torch, abs(lc - float(torch_step().item())))
        first = lc if k == 0 else first
        last = lc
    msg = f"loss {first:.5f} -> {last:.5f} over {steps} steps; max |cr - numpy| {worst_np:.2e}"
    if torch_step is not None:
        msg += f", max |cr - torch| {worst_torch:.2e}"
    if max(worst_np, worst_torch) > 1e-4:
        msg += "  <-- WARNING: implementations disagree"
    return msg


# ---- driver ----------------------------------------------------------------------------
def run(cfg: Config, gc_off: bool, quiet_s: float) -> tuple[list[H.Row], dict[str, Any]]:
    """Run every workload; returns the table rows and the raw numbers.

    Before each workload, waits up to ``quiet_s`` seconds for the CPUs to be idle.
    """
    rows: list[H.Row] = []
    raw: dict[str, Any] = {"cpu": [], "config": str(cfg)}

    def settle(name: str) -> None:
        if quiet_s > 0:
            note = H.wait_quiet(quiet_s)
            raw["cpu"].append(f"{name}: {note}")
            print(f"  [{name}] {note}")
            H.flush()

    settle("tiny op")
    t = H.compare(make_tiny_op(), cfg.op_iter, cfg.repeats, cfg.warmup, gc_off)
    rows.append(H.Row("tiny op fwd+bwd ((x*x).sum())", t["chainrule"], t.get("torch")))
    raw["tiny_op"] = t

    for op in ("mul", "tanh"):
        settle(f"chain {op}")
        bwd, build = H.compare_with_setup(
            make_chain(op), cfg.chain_repeats, max(3, cfg.warmup // 40), gc_off
        )
        note = f"target < {CHAIN_TARGET_MS:g} ms" if op == "mul" else "info"
        rows.append(
            H.Row(f"chain bwd ({CHAIN_LEN} x {op})", bwd["chainrule"], bwd.get("torch"), note)
        )
        rows.append(
            H.Row(f"chain build ({CHAIN_LEN} x {op})", build["chainrule"], build.get("torch"))
        )
        if "minimal" in bwd:
            ratio = bwd["chainrule"].median_ms / bwd["minimal"].median_ms
            rows.append(H.Row("chain bwd, minimal engine (info)", bwd["minimal"], bwd.get("torch"),
                              f"cr/minimal {ratio:.2f}x"))  # fmt: skip
        raw[f"chain_{op}"] = {"backward": bwd, "build": build}

    settle("mlp")
    fns: dict[str, Callable[[], Any]] = {
        "chainrule": make_cr_mlp(),
        "chainrule_data": make_cr_mlp(update="data"),
        "numpy": make_numpy_mlp(),
        "minimal": make_minimal_mlp(),
    }
    if TORCH is not None:
        fns["torch"] = make_torch_mlp()
    t = H.compare(fns, cfg.mlp_iter, cfg.repeats, cfg.warmup, gc_off)
    rows.append(
        H.Row(
            "MLP 2-16-16-1 step (b=32)",
            t["chainrule"],
            t.get("torch"),
            f"target >= {MLP_TARGET:g}x",
        )
    )
    rows.append(H.Row("MLP step, SGD on .data (info)", t["chainrule_data"], t.get("torch"), "info"))
    floor_note = f"cr/numpy {t['chainrule'].median_ms / t['numpy'].median_ms:.1f}x"
    min_note = f"cr(.data)/minimal {t['chainrule_data'].median_ms / t['minimal'].median_ms:.2f}x"
    rows.append(H.Row("MLP step, minimal engine (info)", t["minimal"], t.get("torch"), min_note))
    rows.append(H.Row("MLP step, NumPy floor (by hand)", t["numpy"], t.get("torch"), floor_note))
    raw["mlp"] = t
    return rows, raw


def target_lines(raw: dict[str, Any]) -> tuple[list[str], bool]:
    """One PASS/MISS line per target, and whether all targets passed."""
    lines = []
    ok = True
    mlp = raw["mlp"]
    if "torch" in mlp:
        ratio = mlp["torch"].median_ms / mlp["chainrule"].median_ms
        if ratio >= MLP_TARGET:
            verdict = "PASS"
        elif ratio >= MLP_FLOOR:
            verdict = f"MISS (above the {MLP_FLOOR:g}x floor)"
        else:
            verdict = f"MISS (below the {MLP_FLOOR:g}x floor)"
        ok = ok and ratio >= MLP_TARGET
        lines.append(
            f"TARGET tiny MLP step >= {MLP_TARGET:g}x PyTorch throughput: {verdict} "
            f"({ratio:.2f}x; chainrule {mlp['chainrule'].median_ms:.4f} ms, "
            f"torch {mlp['torch'].median_ms:.4f} ms)"
        )
    else:
        lines.append("TARGET tiny MLP step >= 2x PyTorch throughput: SKIP (torch not installed)")
    chain_ms = raw["chain_mul"]["backward"]["chainrule"].median_ms
    verdict = "PASS" if chain_ms < CHAIN_TARGET_MS else "MISS"
    ok = ok and chain_ms < CHAIN_TARGET_MS
    lines.append(
        f"TARGET {CHAIN_LEN}-op chain backward < {CHAIN_TARGET_MS:g} ms: {verdict} "
        f"({chain_ms:.3f} ms)"
    )
    return lines, ok


def _jsonable(raw: dict[str, Any]) -> Any:
    if isinstance(raw, H.Timing):
        return {"median_ms": raw.median_ms, "repeats_ms": raw.repeats_ms}
    if isinstance(raw, dict):
        return {k: _jsonable(v) for k, v in raw.items()}
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_timing_options(parser)
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if TORCH is not None:
        TORCH.set_num_threads(args.torch_threads)

    H.print_header("chainrule core benchmarks (chainrule vs PyTorch eager, one process)", TORCH)
    print(
        f"  config: {'quick' if args.quick else 'full'} {cfg}; gc "
        f"{'off' if args.gc_off else 'on'} in timed loops"
    )
    print(f"  MLP check: {check_mlp_agreement()}")
    H.flush()

    rows, raw = run(cfg, args.gc_off, args.wait_quiet)
    print()
    print(H.format_table(rows))
    print()
    print("ratio = torch ms / chainrule ms (> 1: chainrule is faster); ms = median per call;")
    print("IQR = interquartile range of the repeats / median.")
    noisy = [r.name for r in rows if H.is_noisy(r)]
    if noisy:
        print(f"WARNING: noisy timings (IQR > {H.NOISY_SPREAD:.0%}): {', '.join(noisy)}")
    lines, ok = target_lines(raw)
    for line in lines:
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(_jsonable(raw), fh, indent=2)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())

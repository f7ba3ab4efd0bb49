"""Recurrent-layer benchmark: chainrule's fused LSTM beside torch.nn.LSTM, in one process.

Workload (issue 3): an LSTM with input 64, hidden 128, sequence 32, batch 32, float32; the
loss is the mean of the last step's output; one train step is forward + backward + an SGD
update of the four weight tensors (``p -= lr * p.grad`` under no_grad on both sides).
chainrule runs ``chainrule.nn.rnn.LSTM`` (one fused ``lstm_layer`` op: the input projection
of all steps in one GEMM, one GEMM per step, hand-written BPTT); torch runs
``torch.nn.LSTM`` (its fused C++/oneDNN kernel) with the same initial weights and data.

Rows:

* ``LSTM train step`` -- the target: chainrule throughput >= 0.8x torch's;
* ``LSTM forward (no grad)`` -- inference only (info);
* ``GRU train step`` -- the same workload through ``nn.GRU`` / ``torch.nn.GRU`` (info);
* ``LSTM step, per-step core ops`` -- the same step written with chainrule's core ops
  (matmul, sigmoid, tanh, mul, add, stack) step by step: what the fused op buys (info).

Before timing, the chainrule and torch LSTM steps run side by side and the largest loss
difference is printed, so the workloads are known to match.

Usage: ``python benchmarks/bench_rnn.py [--quick]`` (``--help`` lists ``--gc-off``,
``--strict``, ``--wait-quiet S``, ``--torch-threads N``, ``--json PATH``).
"""

from __future__ import annotations

import argparse
import importlib.util
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
import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.nn.rnn import GRU, LSTM  # noqa: E402
from chainrule.ops.rnn import lstm_layer_composite  # noqa: E402

TORCH = H.setup_torch()

INPUT, HIDDEN, SEQ, BATCH = 64, 128, 32, 32
LR = 0.01
TARGET = 0.8  # torch ms / chainrule ms


@dataclass
class Config:
    """Iterations per repeat, repeats and warm-up calls per workload."""

    n_iter: int
    repeats: int
    warmup: int


FULL = Config(n_iter=30, repeats=15, warmup=10)
QUICK = Config(n_iter=10, repeats=5, warmup=5)


def data(seed: int = 0) -> np.ndarray:
    """The input sequence (SEQ, BATCH, INPUT), float32."""
    return np.random.default_rng(seed).standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)


def torch_model(kind: str, seed: int = 0) -> Any:
    TORCH.manual_seed(seed)
    return {"lstm": TORCH.nn.LSTM, "gru": TORCH.nn.GRU}[kind](INPUT, HIDDEN)


def cr_model(kind: str, seed: int = 0) -> Any:
    """chainrule's module; with torch installed, torch's initial weights copied in."""
    cr.manual_seed(seed)
    m = {"lstm": LSTM, "gru": GRU}[kind](INPUT, HIDDEN)
    if TORCH is not None:
        tm = torch_model(kind, seed)
        for name, p in tm.named_parameters():
            getattr(m, name).data[...] = p.detach().numpy()
    return m


def make_cr_step(kind: str = "lstm") -> Callable[[], Any]:
    """One chainrule train step (returns the loss Tensor)."""
    m = cr_model(kind)
    x = cr.tensor(data())
    params = list(m.parameters())

    def step() -> Any:
        out, _ = m(x)
        loss = out[-1].mean()
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    return step


def make_torch_step(kind: str = "lstm") -> Callable[[], Any]:
    m = torch_model(kind)
    x = TORCH.from_numpy(data())
    params = list(m.parameters())

    def step() -> Any:
        out, _ = m(x)
        loss = out[-1].mean()
        loss.backward()
        with TORCH.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    return step


def make_cr_forward() -> Callable[[], Any]:
    m = cr_model("lstm")
    x = cr.tensor(data())

    def fwd() -> Any:
        with cr.no_grad():
            return m(x)[0]

    return fwd


def make_torch_forward() -> Callable[[], Any]:
    m = torch_model("lstm")
    x = TORCH.from_numpy(data())

    def fwd() -> Any:
        with TORCH.no_grad():
            return m(x)[0]

    return fwd


def make_cr_composite_step() -> Callable[[], Any]:
    """The LSTM step written with core ops, one graph node per op per step."""
    m = cr_model("lstm")
    x = cr.tensor(data())
    params = [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0]

    def step() -> Any:
        out, _, _ = lstm_layer_composite(x, None, None, *params)
        loss = out[-1].mean()
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    return step


def check_agreement(steps: int = 20) -> str:
    """Run the chainrule and torch LSTM steps side by side; report the largest loss gap."""
    if TORCH is None:
        return "torch not installed"
    c_step, t_step = make_cr_step(), make_torch_step()
    worst = 0.0
    first = last = 0.0
    for k in range(steps):
        lc, lt = float(c_step().item()), float(t_step().item())
        worst = max(worst, abs(lc - lt))
        first = lc if k == 0 else first
        last = lc
    msg = f"loss {first:.6f} -> {last:.6f} over {steps} steps; max |cr - torch| {worst:.2e}"
    if worst > 1e-5:
        msg += "  <-- WARNING: implementations disagree"
    return msg


# ---- driver ----------------------------------------------------------------------------------
def run(cfg: Config, gc_off: bool, quiet_s: float) -> tuple[list[H.Row], dict[str, Any]]:
    rows: list[H.Row] = []
    raw: dict[str, Any] = {"cpu": [], "config": str(cfg)}

    def settle(name: str) -> None:
        if quiet_s > 0:
            note = H.wait_quiet(quiet_s)
            raw["cpu"].append(f"{name}: {note}")
            print(f"  [{name}] {note}")
            H.flush()

    def both(cr_fn: Callable[[], Any], torch_fn: Callable[[], Any] | None, **kw: Any) -> dict:
        fns = {"chainrule": cr_fn}
        if TORCH is not None and torch_fn is not None:
            fns["torch"] = torch_fn
        return H.compare(fns, gc_off=gc_off, **kw)

    timing = {"n_iter": cfg.n_iter, "repeats": cfg.repeats, "warmup": cfg.warmup}
    settle("lstm step")
    t = both(make_cr_step(), make_torch_step() if TORCH else None, **timing)
    rows.append(H.Row("LSTM train step (64-128, T=32, B=32)", t["chainrule"], t.get("torch"),
                      f"target >= {TARGET:g}x"))  # fmt: skip
    raw["lstm_step"] = t

    settle("lstm forward")
    t = both(make_cr_forward(), make_torch_forward() if TORCH else None, **timing)
    rows.append(H.Row("LSTM forward (no grad)", t["chainrule"], t.get("torch"), "info"))
    raw["lstm_forward"] = t

    settle("gru step")
    t = both(make_cr_step("gru"), make_torch_step("gru") if TORCH else None, **timing)
    rows.append(H.Row("GRU train step (same sizes)", t["chainrule"], t.get("torch"), "info"))
    raw["gru_step"] = t

    settle("composite")
    few = {"n_iter": max(2, cfg.n_iter // 10), "repeats": max(3, cfg.repeats // 3), "warmup": 2}
    t = H.compare({"chainrule": make_cr_composite_step()}, gc_off=gc_off, **few)
    fused = raw["lstm_step"]["chainrule"].median_ms
    rows.append(H.Row("LSTM step, per-step core ops", t["chainrule"], raw["lstm_step"].get("torch"),
                      f"fused is {t['chainrule'].median_ms / fused:.1f}x faster"))  # fmt: skip
    raw["composite_step"] = t
    return rows, raw


def target_lines(raw: dict[str, Any]) -> tuple[list[str], bool]:
    t = raw["lstm_step"]
    if "torch" not in t:
        return [f"TARGET LSTM step >= {TARGET:g}x PyTorch: SKIP (torch not installed)"], True
    ratio = t["torch"].median_ms / t["chainrule"].median_ms
    ok = ratio >= TARGET
    line = (
        f"TARGET LSTM train step >= {TARGET:g}x PyTorch's fused nn.LSTM throughput: "
        f"{'PASS' if ok else 'MISS'} ({ratio:.2f}x; chainrule {t['chainrule'].median_ms:.3f} ms, "
        f"torch {t['torch'].median_ms:.3f} ms)"
    )
    return [line], ok


def _jsonable(raw: Any) -> Any:
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

    H.print_header("chainrule recurrent-layer benchmark (chainrule vs PyTorch, one process)", TORCH)
    print(f"  config: {'quick' if args.quick else 'full'} {cfg}; gc "
          f"{'off' if args.gc_off else 'on'} in timed loops")  # fmt: skip
    print(f"  LSTM check: {check_agreement()}")
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

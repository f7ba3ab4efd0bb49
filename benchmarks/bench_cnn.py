"""CNN benchmark: a LeNet-like training step, chainrule beside PyTorch eager, in one process.

Workload (identical float32 data and initial weights on both sides, batch 64, 28x28
inputs): ``conv 1->8 5x5, ReLU, maxpool 2, conv 8->16 5x5, ReLU, maxpool 2, flatten,
x @ W.T + b (256 -> 10)``, cross-entropy written as ``-log_softmax(logits)[arange, y].mean()``,
``loss.backward()``, then plain SGD under ``no_grad`` (``p -= lr * p.grad; p.grad = None``).
PyTorch runs the same code with ``torch.nn.functional.conv2d``/``max_pool2d``. A second row
times the forward pass alone under ``no_grad`` (inference), for information.

Target (issue 3, throughput vs PyTorch 2.13 CPU eager with 2 threads): the train step
>= 1.0x PyTorch, and not below 0.8x.

chainrule raises glibc's malloc thresholds when imported (``chainrule.backend.tune_malloc``;
the header says whether it is on). That setting is process-wide, so PyTorch's allocations in
this process get it too; run with ``CHAINRULE_MALLOC_TUNING=0`` to time both without it.

Usage: ``python benchmarks/bench_cnn.py [--quick] [--profile]`` (``--help`` lists the other
options: ``--gc-off``, ``--strict``, ``--wait-quiet S``, ``--torch-threads N``, ``--json PATH``).
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
from chainrule import backend  # noqa: E402
from chainrule.ops.conv import conv2d, max_pool2d  # noqa: E402

TORCH = H.setup_torch()

BATCH = 64
LR = 0.05
# (name, shape, fan_in) of [conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias]
PARAMS = [
    ("w1", (8, 1, 5, 5), 25), ("b1", (8,), 25),
    ("w2", (16, 8, 5, 5), 200), ("b2", (16,), 200),
    ("w3", (10, 256), 256), ("b3", (10,), 256),
]  # fmt: skip
TARGET = 1.0  # torch ms / chainrule ms
FLOOR = 0.8


@dataclass
class Config:
    """Iterations per repeat, repeats and warm-up calls."""

    n_iter: int
    repeats: int
    warmup: int


FULL = Config(n_iter=100, repeats=15, warmup=50)
QUICK = Config(n_iter=40, repeats=5, warmup=20)


def cnn_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Images (64, 1, 28, 28) in [0, 1), labels (64,) and PyTorch-style initial weights
    (uniform in +-1/sqrt(fan_in), PyTorch's default for conv and linear layers)."""
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    params = []
    for _, shape, fan_in in PARAMS:
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, size=shape).astype(np.float32))
    return x, y, params


def make_cr_step(seed: int = 0, train: bool = True) -> Callable[[], Any]:
    """One chainrule SGD step (or, with ``train=False``, a no_grad forward); returns the
    loss (or the logits) as a Tensor."""
    x0, y0, p0 = cnn_data(seed)
    x = cr.tensor(x0)
    rows = np.arange(BATCH)
    params = [cr.tensor(p, requires_grad=True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params

    def forward() -> Any:
        h = max_pool2d(cr.relu(conv2d(x, w1, b1)), 2)
        h = max_pool2d(cr.relu(conv2d(h, w2, b2)), 2)
        return h.reshape(BATCH, -1) @ w3.T + b3

    def step() -> Any:
        loss = -cr.log_softmax(forward(), axis=-1)[rows, y0].mean()
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    def infer() -> Any:
        with cr.no_grad():
            return forward()

    return step if train else infer


def make_torch_step(seed: int = 0, train: bool = True) -> Callable[[], Any]:
    """The same step in PyTorch eager: functional conv/pool, manual SGD under no_grad."""
    torch = TORCH
    F = torch.nn.functional
    x0, y0, p0 = cnn_data(seed)
    x, y = torch.tensor(x0), torch.tensor(y0)
    rows = torch.arange(BATCH)
    params = [torch.tensor(p, requires_grad=True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params

    def forward() -> Any:
        h = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1)), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, w2, b2)), 2)
        return h.reshape(BATCH, -1) @ w3.T + b3

    def step() -> Any:
        loss = -torch.log_softmax(forward(), dim=-1)[rows, y].mean()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    def infer() -> Any:
        with torch.no_grad():
            return forward()

    return step if train else infer


def check_agreement(steps: int = 30) -> str:
    """Train both side by side from the same start; report the largest loss gap."""
    cr_step = make_cr_step()
    if TORCH is None:
        losses = [float(cr_step().item()) for _ in range(steps)]
        return f"loss {losses[0]:.5f} -> {losses[-1]:.5f} over {steps} steps (no torch)"
    torch_step = make_torch_step()
    worst, first, last = 0.0, 0.0, 0.0
    for k in range(steps):
        lc, lt = float(cr_step().item()), float(torch_step().item())
        worst = max(worst, abs(lc - lt))
        first = lc if k == 0 else first
        last = lc
    msg = f"loss {first:.5f} -> {last:.5f} over {steps} steps; max |cr - torch| {worst:.2e}"
    return msg + ("  <-- WARNING: the two disagree" if worst > 1e-3 else "")


def profile(n: int = 200) -> None:
    """cProfile of the chainrule step: the functions with the most time of their own."""
    import cProfile
    import pstats

    step = make_cr_step()
    for _ in range(20):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        step()
    prof.disable()
    print(f"cProfile of {n} chainrule steps (tottime = time in the function itself):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def run(cfg: Config, gc_off: bool, quiet_s: float) -> tuple[list[H.Row], dict[str, Any]]:
    rows: list[H.Row] = []
    raw: dict[str, Any] = {"cpu": [], "config": str(cfg), "malloc_tuned": backend.malloc_tuned}
    for train, name, note in (
        (True, "LeNet train step (b=64)", f"target >= {TARGET:g}x"),
        (False, "LeNet forward, no_grad (info)", "info"),
    ):
        if quiet_s > 0:
            seen = H.wait_quiet(quiet_s)
            raw["cpu"].append(f"{name}: {seen}")
            print(f"  [{name}] {seen}")
            H.flush()
        fns: dict[str, Callable[[], Any]] = {"chainrule": make_cr_step(train=train)}
        if TORCH is not None:
            fns["torch"] = make_torch_step(train=train)
        t = H.compare(fns, cfg.n_iter, cfg.repeats, cfg.warmup, gc_off)
        rows.append(H.Row(name, t["chainrule"], t.get("torch"), note))
        raw["train" if train else "infer"] = t
    return rows, raw


def target_line(raw: dict[str, Any]) -> tuple[str, bool]:
    t = raw["train"]
    if "torch" not in t:
        return f"TARGET LeNet step >= {TARGET:g}x PyTorch throughput: SKIP (no torch)", True
    ratio = t["torch"].median_ms / t["chainrule"].median_ms
    if ratio >= TARGET:
        verdict = "PASS"
    elif ratio >= FLOOR:
        verdict = f"MISS (above the {FLOOR:g}x floor)"
    else:
        verdict = f"MISS (below the {FLOOR:g}x floor)"
    line = (
        f"TARGET LeNet step >= {TARGET:g}x PyTorch throughput: {verdict} ({ratio:.2f}x; "
        f"chainrule {t['chainrule'].median_ms:.3f} ms, torch {t['torch'].median_ms:.3f} ms)"
    )
    return line, ratio >= TARGET


def _jsonable(raw: Any) -> Any:
    if isinstance(raw, H.Timing):
        return {"median_ms": raw.median_ms, "repeats_ms": raw.repeats_ms}
    if isinstance(raw, dict):
        return {k: _jsonable(v) for k, v in raw.items()}
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_timing_options(parser)
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the chainrule step"
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if TORCH is not None:
        TORCH.set_num_threads(args.torch_threads)

    H.print_header("chainrule CNN benchmark (chainrule vs PyTorch eager, one process)", TORCH)
    tuned = "on" if backend.malloc_tuned else "off"
    gc_state = "off" if args.gc_off else "on"
    mode = "quick" if args.quick else "full"
    print(f"  config: {mode} {cfg}; gc {gc_state} in timed loops; glibc malloc tuning {tuned}")
    print(f"  check: {check_agreement()}")
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
    line, ok = target_line(raw)
    print(line)
    if args.profile:
        print()
        profile()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(_jsonable(raw), fh, indent=2)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())

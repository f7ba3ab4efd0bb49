"""nn benchmark: an MLP training step with chainrule.nn beside torch.nn, in one process.

Workload (identical float32 data and initial weights on both sides): an MLP 784-256-256-10
with ReLU, cross-entropy against integer labels, batch 128, written the way a user writes
it::

    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

PyTorch runs the identical code with ``torch.nn`` and ``torch.optim``; its weights are
copied from the chainrule model before the first step. The data is one fixed batch held in
memory (no DataLoader), so only the step is timed. The NumPy floor row is the same step's
arithmetic hand-written in NumPy (forward, backward and update, no autodiff): its eight
GEMMs plus the few elementwise passes a careful hand-written step needs.

Target (issue 3, throughput vs PyTorch 2.13 CPU eager with 2 threads): >= 1.1x PyTorch,
and not below 1.0x.

chainrule raises glibc's malloc thresholds when imported (``chainrule.backend.tune_malloc``,
when present; the header says whether it is on). The setting is process-wide, so PyTorch's
allocations in this process get it too.

Usage: ``python benchmarks/bench_nn.py [--quick] [--profile]`` (``--help`` lists the other
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
from chainrule import backend, nn  # noqa: E402

TORCH = H.setup_torch()

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.1
TARGET = 1.1  # torch ms / chainrule ms
FLOOR = 1.0


@dataclass
class Config:
    """Iterations per repeat, repeats and warm-up calls."""

    n_iter: int
    repeats: int
    warmup: int


FULL = Config(n_iter=200, repeats=15, warmup=100)
QUICK = Config(n_iter=60, repeats=5, warmup=30)


def mlp_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One batch: inputs (128, 784) in [0, 1) like scaled MNIST pixels, labels (128,)."""
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return x, y


def make_cr_model(seed: int = 0) -> nn.Sequential:
    """The chainrule MLP with PyTorch's default initialisation (seeded)."""
    cr.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1]),
        nn.ReLU(),
        nn.Linear(SIZES[1], SIZES[2]),
        nn.ReLU(),
        nn.Linear(SIZES[2], SIZES[3]),
    )


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """Copies of the chainrule model's initial [W1, b1, W2, b2, W3, b3] (PyTorch layout)."""
    return [np.array(p.data, copy=True) for p in make_cr_model(seed).parameters()]


def make_cr_step(seed: int = 0) -> Callable[[], Any]:
    """One chainrule SGD step written as a user would; returns the loss Tensor."""
    x0, y0 = mlp_data(seed)
    x, y = cr.tensor(x0), cr.tensor(y0)
    model = make_cr_model(seed)
    loss_fn = nn.CrossEntropyLoss()
    opt = cr.optim.SGD(model.parameters(), lr=LR)

    def step() -> Any:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def make_torch_step(seed: int = 0) -> Callable[[], Any]:
    """The identical step with torch.nn and torch.optim, from the same initial weights."""
    torch = TORCH
    x0, y0 = mlp_data(seed)
    x, y = torch.tensor(x0), torch.tensor(y0)
    model = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(SIZES[1], SIZES[2]),
        torch.nn.ReLU(),
        torch.nn.Linear(SIZES[2], SIZES[3]),
    )
    with torch.no_grad():
        for p, w in zip(model.parameters(), initial_weights(seed), strict=True):
            p.copy_(torch.from_numpy(w))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step() -> Any:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def make_numpy_step(seed: int = 0) -> Callable[[], Any]:
    """The floor: the same step hand-written in NumPy (returns the loss as a float32).

    Eight GEMMs (three forward, three weight gradients, two input gradients: the batch
    needs none), ReLU and its mask in place, the softmax-cross-entropy gradient in one
    pass over the logits, bias gradients as column sums, and an in-place update through
    preallocated buffers. ReLU takes the maximum against a zero array, not the scalar 0:
    NumPy's SIMD loop for maximum needs two array operands (twice as fast here).
    """
    x, y = mlp_data(seed)
    w1, b1, w2, b2, w3, b3 = params = initial_weights(seed)
    rows = np.arange(BATCH)
    lr = np.float32(LR)
    inv_n = np.float32(1 / BATCH)
    scratch = {id(p): np.empty_like(p) for p in params}
    zeros1, zeros2 = (np.zeros((BATCH, n), np.float32) for n in SIZES[1:3])

    def step() -> Any:
        h1 = x @ w1.T
        h1 += b1
        np.maximum(h1, zeros1, out=h1)
        h2 = h1 @ w2.T
        h2 += b2
        np.maximum(h2, zeros2, out=h2)
        z = h2 @ w3.T
        z += b3
        z -= z.max(axis=1, keepdims=True)  # softmax cross-entropy, max subtracted
        picked = z[rows, y]
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        loss = (np.log(s[:, 0]) - picked).mean()
        s *= BATCH
        g = np.divide(z, s, out=z)  # softmax / N
        g[rows, y] -= inv_n
        gw3, gb3 = g.T @ h2, g.sum(0)
        g = g @ w3
        g *= h2 > 0
        gw2, gb2 = g.T @ h1, g.sum(0)
        g = g @ w2
        g *= h1 > 0
        gw1, gb1 = g.T @ x, g.sum(0)
        for p, gp in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2), (w3, gw3), (b3, gb3)):
            t = np.multiply(gp, lr, out=scratch[id(p)])
            p -= t
        return loss

    return step


def check_agreement(steps: int = 20) -> str:
    """Run chainrule, NumPy and torch side by side from the same start; report the largest
    loss gaps."""
    cr_step, np_step = make_cr_step(), make_numpy_step()
    torch_step = make_torch_step() if TORCH is not None else None
    worst_np = worst_torch = 0.0
    first = last = 0.0
    for k in range(steps):
        lc = float(cr_step().item())
        worst_np = max(worst_np, abs(lc - float(np_step())))
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


def profile(n: int = 300) -> None:
    """cProfile of the chainrule step: the functions with the most time of their own."""
    import cProfile
    import pstats

    step = make_cr_step()
    for _ in range(30):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        step()
    prof.disable()
    print(f"cProfile of {n} chainrule steps (tottime = time in the function itself):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def run(cfg: Config, gc_off: bool, quiet_s: float) -> tuple[list[H.Row], dict[str, Any]]:
    """Time the three steps (repeats interleaved); returns the table rows and raw numbers."""
    raw: dict[str, Any] = {"cpu": [], "config": str(cfg), "malloc_tuned": _malloc_tuned()}
    if quiet_s > 0:
        seen = H.wait_quiet(quiet_s)
        raw["cpu"].append(f"mlp: {seen}")
        print(f"  [mlp] {seen}")
        H.flush()
    fns: dict[str, Callable[[], Any]] = {"chainrule": make_cr_step(), "numpy": make_numpy_step()}
    if TORCH is not None:
        fns["torch"] = make_torch_step()
    t = H.compare(fns, cfg.n_iter, cfg.repeats, cfg.warmup, gc_off)
    raw["mlp"] = t
    floor_note = f"cr/numpy {t['chainrule'].median_ms / t['numpy'].median_ms:.2f}x"
    rows = [
        H.Row(f"MLP 784-256-256-10 step (b={BATCH})", t["chainrule"], t.get("torch"),
              f"target >= {TARGET:g}x"),
        H.Row("MLP step, NumPy floor (by hand)", t["numpy"], t.get("torch"), floor_note),
    ]  # fmt: skip
    return rows, raw


def target_line(raw: dict[str, Any]) -> tuple[str, bool]:
    """The PASS/MISS line for the MLP target, and whether it passed."""
    t = raw["mlp"]
    if "torch" not in t:
        return f"TARGET MLP step >= {TARGET:g}x PyTorch throughput: SKIP (no torch)", True
    ratio = t["torch"].median_ms / t["chainrule"].median_ms
    if ratio >= TARGET:
        verdict = "PASS"
    elif ratio >= FLOOR:
        verdict = f"MISS (above the {FLOOR:g}x floor)"
    else:
        verdict = f"MISS (below the {FLOOR:g}x floor)"
    line = (
        f"TARGET MLP step >= {TARGET:g}x PyTorch throughput: {verdict} ({ratio:.2f}x; "
        f"chainrule {t['chainrule'].median_ms:.3f} ms, torch {t['torch'].median_ms:.3f} ms)"
    )
    return line, ratio >= TARGET


def _malloc_tuned() -> bool:
    return bool(getattr(backend, "malloc_tuned", False))


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

    H.print_header("chainrule nn benchmark (chainrule.nn vs torch.nn eager, one process)", TORCH)
    tuned = "on" if _malloc_tuned() else "off"
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

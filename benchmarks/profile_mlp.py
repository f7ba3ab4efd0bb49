"""Profile the chainrule 2-16-16-1 MLP train step of ``bench_core.py``.

Prints, in order: the un-profiled ms per step; the step split into forward, backward and
SGD update, chainrule beside torch; single-op costs (NumPy, chainrule, torch); then runs
the step ``--steps`` times under cProfile and prints the functions with the most own
time (function, file:line, own-time %, calls per step), then the same steps under
pyinstrument (if installed) as a call tree. cProfile inflates the cost of every Python
call, so read its percentages as "where the calls are", and the un-profiled ms per step
printed first as the real cost.

Usage: ``python benchmarks/profile_mlp.py [--steps N] [--top K] [--no-tree] [--wait-quiet S]``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from typing import Any

import _harness as H
import bench_core as B  # also sets the thread variables and finds chainrule
import numpy as np

import chainrule as cr

_REPO_PARTS = ("chainrule", "benchmarks")


def _short(path: str) -> str:
    """``path`` from the package directory on (chainrule/..., numpy/..., ...)."""
    parts = path.replace("\\", "/").split("/")
    for anchor in (*_REPO_PARTS, "numpy", "torch"):
        if anchor in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(anchor) - 1 :])
    return os.path.basename(path)


def _cr_phases() -> tuple[Any, Any, Any]:
    """The chainrule MLP step split into forward, backward and update callables."""
    x0, t0, p0 = B.mlp_data()
    x, t = cr.tensor(x0), cr.tensor(t0)
    params = [cr.tensor(p, requires_grad=True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params
    lr = B.MLP_LR

    def forward() -> Any:
        h1 = (x @ w1 + b1).tanh()
        h2 = (h1 @ w2 + b2).tanh()
        d = h2 @ w3 + b3 - t
        return (d * d).mean()

    def update() -> None:
        with cr.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None

    return forward, lambda loss: loss.backward(), update


def _torch_phases() -> tuple[Any, Any, Any]:
    """The PyTorch MLP step split the same way."""
    torch = B.TORCH
    x0, t0, p0 = B.mlp_data()
    x, t = torch.tensor(x0), torch.tensor(t0)
    params = [torch.tensor(p, requires_grad=True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params
    lr = B.MLP_LR

    def forward() -> Any:
        h1 = (x @ w1 + b1).tanh()
        h2 = (h1 @ w2 + b2).tanh()
        d = h2 @ w3 + b3 - t
        return (d * d).mean()

    def update() -> None:
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None

    return forward, lambda loss: loss.backward(), update


def phase_report(steps: int, repeats: int = 7) -> str:
    """Median ms per step of forward, backward and update, chainrule beside torch."""
    sides = {"chainrule": _cr_phases()}
    if B.TORCH is not None:
        sides["torch"] = _torch_phases()
    result: dict[str, list[list[float]]] = {name: [[], [], []] for name in sides}
    for fwd, bwd, upd in sides.values():
        for _ in range(200):
            bwd(fwd())
            upd()
    for _ in range(repeats):
        for name, (fwd, bwd, upd) in sides.items():
            acc = [0, 0, 0]
            for _ in range(steps):
                c0 = time.perf_counter_ns()
                loss = fwd()
                c1 = time.perf_counter_ns()
                bwd(loss)
                c2 = time.perf_counter_ns()
                upd()
                c3 = time.perf_counter_ns()
                acc[0] += c1 - c0
                acc[1] += c2 - c1
                acc[2] += c3 - c2
            for k in range(3):
                result[name][k].append(acc[k] / steps / 1e6)
    lines = [f"{'phase':<28}" + "".join(f"{name:>12}" for name in sides)]
    labels = ("forward (11 recorded ops)", "backward (11 nodes)", "SGD update (12 no-grad ops)")
    for k, label in enumerate(labels):
        cells = "".join(f"{statistics.median(result[n][k]):12.4f}" for n in sides)
        lines.append(f"{label:<28}{cells}")
    total = "".join(
        f"{sum(statistics.median(result[n][k]) for k in range(3)):12.4f}" for n in sides
    )
    lines.append(f"{'total ms/step':<28}{total}")
    return "\n".join(lines)


def micro_report(n: int = 20000) -> str:
    """Microseconds per call of single ops: raw NumPy, chainrule and torch."""
    a0 = np.arange(1, 5, dtype=np.float32)
    ac, bc = cr.tensor(a0), cr.tensor(a0 + 1)
    ag = cr.tensor(a0, requires_grad=True)
    cases: list[tuple[str, Any, Any, Any]] = [
        ("a + b, (4,), no grad", lambda: a0 + a0, lambda: ac + bc, None),
        ("a + b, (4,), a requires grad", None, lambda: ag + bc, None),
        ("tanh(a), (4,), no grad", lambda: np.tanh(a0), lambda: ac.tanh(), None),
        ("tensor wrap of an array", None, lambda: cr.Tensor(a0), None),
    ]
    torch = B.TORCH
    if torch is not None:
        at, bt = torch.tensor(a0), torch.tensor(a0 + 1)
        agt = torch.tensor(a0, requires_grad=True)
        torch_fns = [
            lambda: at + bt,
            lambda: agt + bt,
            lambda: at.tanh(),
            lambda: torch.from_numpy(a0),
        ]
        cases = [(c[0], c[1], c[2], tf) for c, tf in zip(cases, torch_fns)]
    lines = [f"{'op':<32}{'numpy us':>10}{'chainrule us':>14}{'torch us':>10}"]
    for label, *fns in cases:
        cells = []
        for fn in fns:
            if fn is None:
                cells.append("-")
                continue
            for _ in range(1000):
                fn()
            best = min(_per_call_us(fn, n) for _ in range(5))
            cells.append(f"{best:.2f}")
        lines.append(f"{label:<32}{cells[0]:>10}{cells[1]:>14}{cells[2]:>10}")
    return "\n".join(lines)


def _per_call_us(fn: Any, n: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n / 1e3


def time_steps(steps: int) -> float:
    """Milliseconds per un-profiled chainrule MLP step (after a warm-up)."""
    step = B.make_cr_mlp()
    for _ in range(200):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1e3


def cprofile_report(steps: int, top: int) -> str:
    """The ``top`` functions by own time over ``steps`` profiled steps, as a table."""
    step = B.make_cr_mlp()
    for _ in range(200):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    lines = [
        f"cProfile: {steps} steps, {total * 1e3 / steps:.3f} ms/step profiled "
        f"(own time summed over all functions)",
        f"{'own %':>6} {'cum %':>6} {'calls/step':>10}  function (file:line)",
    ]
    for (filename, lineno, func), (_cc, ncalls, tottime, cumtime, _callers) in rows:
        where = "built-in" if filename == "~" else f"{_short(filename)}:{lineno}"
        lines.append(
            f"{tottime / total:6.1%} {cumtime / total:6.1%} {ncalls / steps:10.1f}  "
            f"{func} ({where})"
        )
    return "\n".join(lines)


def pyinstrument_report(steps: int) -> str | None:
    """A pyinstrument call tree of ``steps`` steps, or None without pyinstrument."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    step = B.make_cr_mlp()
    for _ in range(200):
        step()
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for _ in range(steps):
        step()
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="profiled steps (default 3000)")
    parser.add_argument("--top", type=int, default=30, help="rows of the cProfile table")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        metavar="S",
        help="wait up to S seconds for idle CPUs before each timed section (default 30)",
    )
    parser.add_argument("--no-tree", action="store_true", help="skip the pyinstrument tree")
    args = parser.parse_args(argv)

    print(f"[{H.wait_quiet(args.wait_quiet)}]")
    print(f"chainrule MLP step, un-profiled: {time_steps(args.steps):.4f} ms/step")
    print()
    print(f"Phases of the MLP step, median ms per step [{H.wait_quiet(args.wait_quiet)}]:")
    print(phase_report(max(100, args.steps // 10)))
    print()
    print(f"Single ops, best-of-5 us per call [{H.wait_quiet(args.wait_quiet)}]:")
    print(micro_report())
    print()
    print(cprofile_report(args.steps, args.top))
    if not args.no_tree:
        tree = pyinstrument_report(args.steps)
        print()
        print(tree if tree is not None else "(pyinstrument not installed: no call tree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

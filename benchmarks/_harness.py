"""Shared timing helpers for the benchmark scripts.

Every benchmark runs chainrule beside PyTorch eager in one process. Timing follows the
``timeit`` recipe: warm up, then take several *repeats* of ``n_iter`` back-to-back calls
and report the median repeat as milliseconds per call. The two libraries' repeats are
interleaved (chainrule, torch, chainrule, torch, ...) so a burst of load on the machine
hits both sides alike instead of skewing one of them.

Thread counts are pinned before NumPy or torch is imported: ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` default to 2 (an explicit setting in the
environment wins), and :func:`setup_torch` calls ``torch.set_num_threads(2)``, the
configuration the issue's targets are stated for.
"""

from __future__ import annotations

import os

BENCH_THREADS = 2
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
for _var in _THREAD_VARS:
    os.environ.setdefault(_var, str(BENCH_THREADS))

import argparse  # noqa: E402  (the thread variables must be set before NumPy is imported)
import gc  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


@dataclass
class Timing:
    """Milliseconds per call: the median repeat, plus every repeat for the spread."""

    median_ms: float
    repeats_ms: list[float] = field(default_factory=list)

    @property
    def min_ms(self) -> float:
        return min(self.repeats_ms) if self.repeats_ms else self.median_ms

    @property
    def spread(self) -> float:
        """Interquartile range / median over the repeats: how far the median can be trusted.

        Robust to the odd outlier (a full garbage collection, a burst of load), which the
        median ignores too; ``max_ms`` shows those.
        """
        if len(self.repeats_ms) < 2 or self.median_ms == 0:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.repeats_ms, n=4)
        return (q3 - q1) / self.median_ms

    @property
    def max_ms(self) -> float:
        return max(self.repeats_ms) if self.repeats_ms else self.median_ms


@dataclass
class Row:
    """One line of the results table."""

    name: str
    chainrule: Timing
    torch: Timing | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """torch ms / chainrule ms: > 1 means chainrule is faster."""
        if self.torch is None or self.chainrule.median_ms == 0:
            return None
        return self.torch.median_ms / self.chainrule.median_ms


def add_run_options(parser: argparse.ArgumentParser, wait_quiet_s: float = 30.0) -> None:
    """``--strict`` and ``--wait-quiet S``, which every benchmark script takes."""
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=wait_quiet_s,
        metavar="S",
        help="before each workload wait up to S seconds for other processes to leave the "
        f"CPUs idle (0: do not wait; default {wait_quiet_s:g})",
    )


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """The options of the timing scripts: ``--quick``, ``--gc-off``, ``--torch-threads N``,
    ``--json PATH`` and those of :func:`add_run_options`."""
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats")
    parser.add_argument(
        "--gc-off", action="store_true", help="disable the garbage collector in timed loops"
    )
    add_run_options(parser)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=BENCH_THREADS,
        metavar="N",
        help=f"torch intra-op threads (default {BENCH_THREADS}, the targets' setting)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw timings as JSON")


def setup_torch() -> Any:
    """Import torch with ``BENCH_THREADS`` intra-op threads; None if torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(BENCH_THREADS)
    return torch


def environment_lines(torch: Any) -> list[str]:
    """A few lines describing the machine and the thread settings, for the report."""
    import chainrule

    env = ", ".join(f"{v}={os.environ.get(v, '')}" for v in _THREAD_VARS)
    torch_desc = "not installed"
    if torch is not None:
        torch_desc = f"{torch.__version__} (threads={torch.get_num_threads()})"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"python {platform.python_version()} | numpy {np.__version__} | torch {torch_desc} | "
        f"chainrule {getattr(chainrule, '__version__', '?')}",
        f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores | "
        f"load avg {load}",
        f"threads: {env}",
        f"chainrule from {os.path.dirname(chainrule.__file__)} ({_git_describe(chainrule)})",
    ]


def _git_describe(module: Any) -> str:
    """The git commit (and '+dirty' for local edits) of the checkout ``module`` lives in."""
    import subprocess

    where = os.path.dirname(os.path.abspath(module.__file__))
    try:
        rev = subprocess.run(
            ["git", "-C", where, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return rev + ("+dirty" if dirty else "")


def _cpu_busy(interval: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over ``interval`` seconds (from /proc/stat; None elsewhere).

    Called while this process sleeps, so it measures what *other* processes are doing.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return idle, sum(fields)

    try:
        idle0, total0 = sample()
        time.sleep(interval)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else 1.0 - (idle1 - idle0) / total


def wait_quiet(max_wait_s: float, busy_below: float = 0.15) -> str:
    """Wait (up to ``max_wait_s``) until other processes leave the CPUs idle.

    On a shared 2-core machine a busy neighbour makes torch's two OpenMP threads wait on
    each other and inflates timings several-fold; waiting for a quiet moment keeps the
    numbers comparable. Returns a short note of what was seen.
    """
    start = time.monotonic()
    busy = _cpu_busy()
    while busy is not None and busy >= busy_below and time.monotonic() - start < max_wait_s:
        busy = _cpu_busy()
    waited = time.monotonic() - start
    if busy is None:
        return "cpu load unknown"
    quiet = "quiet" if busy < busy_below else "STILL BUSY"
    return f"{quiet}: other processes {busy:.0%} busy (waited {waited:.1f} s)"


def _run_repeat(fn: Callable[[], Any], n_iter: int, gc_off: bool) -> float:
    """Milliseconds per call over one repeat of ``n_iter`` calls."""
    gc_was_on = gc.isenabled()
    if gc_off:
        gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for _ in range(n_iter):
            fn()
        elapsed = time.perf_counter_ns() - t0
    finally:
        if gc_off and gc_was_on:
            gc.enable()
    return elapsed / n_iter / 1e6


def compare(
    fns: dict[str, Callable[[], Any]],
    n_iter: int,
    repeats: int,
    warmup: int,
    gc_off: bool = False,
) -> dict[str, Timing]:
    """Time each callable in ``fns``; repeats are interleaved across the callables.

    Each callable is first called ``warmup`` times. Then, ``repeats`` times over, each
    callable runs ``n_iter`` times back to back and the mean per call of that repeat is
    kept. The result per name is the median of its repeats.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_run_repeat(fn, n_iter, gc_off))
    return {name: Timing(statistics.median(s), s) for name, s in samples.items()}


def compare_with_setup(
    setups: dict[str, Callable[[], Callable[[], Any]]],
    repeats: int,
    warmup: int,
    gc_off: bool = False,
) -> tuple[dict[str, Timing], dict[str, Timing]]:
    """Time a call that needs fresh state each time (e.g. a backward that frees its graph).

    ``setups[name]()`` builds the state (timed separately, as the *setup* time) and returns
    the callable to time, which is then called once. Returns ``(timed, setup)`` timings,
    each the median over ``repeats`` rounds, interleaved across names.
    """
    for setup in setups.values():
        for _ in range(warmup):
            setup()()
    timed: dict[str, list[float]] = {name: [] for name in setups}
    built: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(repeats):
        for name, setup in setups.items():
            gc_was_on = gc.isenabled()
            if gc_off:
                gc.disable()
            t0 = time.perf_counter_ns()
            fn = setup()
            t1 = time.perf_counter_ns()
            if gc_off and gc_was_on:
                gc.enable()
            built[name].append((t1 - t0) / 1e6)
            timed[name].append(_run_repeat(fn, 1, gc_off))
            del fn
    return (
        {name: Timing(statistics.median(s), s) for name, s in timed.items()},
        {name: Timing(statistics.median(s), s) for name, s in built.items()},
    )


NOISY_SPREAD = 0.25


def is_noisy(row: Row) -> bool:
    """True when either side's repeats have an IQR over ``NOISY_SPREAD`` of the median."""
    spreads = [row.chainrule.spread] + ([row.torch.spread] if row.torch is not None else [])
    return max(spreads) > NOISY_SPREAD


def _fmt_ms(t: Timing | None) -> str:
    return "-" if t is None else f"{t.median_ms:.4f}"


def format_table(rows: list[Row]) -> str:
    """A plain-text table (also valid Markdown) of the rows."""
    header = ["workload", "chainrule ms", "torch ms", "torch/chainrule", "IQR cr/torch", "note"]
    lines = []
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        spread = f"{r.chainrule.spread:.0%}"
        if r.torch is not None:
            spread += f" / {r.torch.spread:.0%}"
        lines.append([r.name, _fmt_ms(r.chainrule), _fmt_ms(r.torch), ratio, spread, r.note])
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(fmt(line) for line in lines)
    return "\n".join(out)


def print_header(title: str, torch: Any) -> None:
    print(title)
    for line in environment_lines(torch):
        print("  " + line)
    print()


def flush() -> None:
    sys.stdout.flush()

"""Forward mode or reverse mode? Time both on a wide and on a tall Jacobian.

For ``f: R^n -> R^m`` the Jacobian is ``m x n``. Reverse mode (vjp) gives one *row* per
backward pass, so the full Jacobian costs ``m`` passes; forward mode (jvp) gives one
*column* per pass, ``n`` passes. Each wins where it should:

* a **wide** Jacobian (few outputs, many inputs -- a loss of many parameters): reverse
  mode, which is why training uses backprop;
* a **tall** Jacobian (few inputs, many outputs -- a curve traced by a few parameters):
  forward mode.

Both functions here are the same small network shape, ``W2 @ tanh(W1 @ x)``; only which
side is big changes. ``cr.jacobian(f, x, mode="rev"|"fwd")`` builds the matrix either way
and the script checks the two agree.

    python examples/forward_vs_reverse.py           # big = 800, small = 4
    python examples/forward_vs_reverse.py --quick   # big = 300
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np

import chainrule as cr


def two_layer(n_in: int, n_out: int, hidden: int, rng: np.random.Generator) -> Callable:
    """``x -> W2 @ tanh(W1 @ x)`` with fixed random weights: R^n_in -> R^n_out."""
    w1 = cr.tensor(rng.standard_normal((hidden, n_in)) / np.sqrt(n_in))
    w2 = cr.tensor(rng.standard_normal((n_out, hidden)) / np.sqrt(hidden))
    return lambda x: w2 @ cr.tanh(w1 @ x)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def compare(name: str, f: Callable, n_in: int, repeats: int) -> dict[str, float]:
    x = cr.tensor(np.linspace(-1, 1, n_in))
    jac_rev = cr.jacobian(f, x, mode="rev").numpy()
    jac_fwd = cr.jacobian(f, x, mode="fwd").numpy()
    agree = np.allclose(jac_rev, jac_fwd, rtol=1e-5, atol=1e-7)
    t_rev = best_time(lambda: cr.jacobian(f, x, mode="rev"), repeats)
    t_fwd = best_time(lambda: cr.jacobian(f, x, mode="fwd"), repeats)
    m, n = jac_rev.shape
    print(f"{name}: Jacobian {m} x {n} (outputs x inputs)")
    print(f"  reverse mode: {m:4d} passes, {t_rev * 1e3:8.2f} ms")
    print(f"  forward mode: {n:4d} passes, {t_fwd * 1e3:8.2f} ms")
    print(f"  same matrix both ways: {agree}")
    return {"rev": t_rev, "fwd": t_fwd, "agree": float(agree)}


def main(argv: Sequence[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=None, help="the long side (800)")
    parser.add_argument("--small", type=int, default=4, help="the short side (4)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden width (64)")
    parser.add_argument("--repeats", type=int, default=3, help="timings kept: the best of N")
    parser.add_argument("--quick", action="store_true", help="big = 300")
    args = parser.parse_args(argv)
    big = args.big if args.big is not None else (300 if args.quick else 800)
    small = args.small
    rng = np.random.default_rng(0)

    f_wide = two_layer(big, small, args.hidden, rng)
    f_tall = two_layer(small, big, args.hidden, rng)
    wide = compare(f"wide f: R^{big} -> R^{small}", f_wide, big, args.repeats)
    tall = compare(f"tall f: R^{small} -> R^{big}", f_tall, small, args.repeats)
    rev_wins = wide["rev"] < wide["fwd"]
    fwd_wins = tall["fwd"] < tall["rev"]
    print(f"reverse mode faster on the wide function: {rev_wins} "
          f"({wide['fwd'] / wide['rev']:.0f}x)")  # fmt: skip
    print(f"forward mode faster on the tall function: {fwd_wins} "
          f"({tall['rev'] / tall['fwd']:.0f}x)")  # fmt: skip
    print("rule of thumb: pay one pass per output (reverse) or one per input (forward)")
    return rev_wins and fwd_wins and bool(wide["agree"]) and bool(tall["agree"])


if __name__ == "__main__":
    main()

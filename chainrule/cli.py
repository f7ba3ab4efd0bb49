"""The ``chainrule`` command line.

``chainrule gradcheck [--op NAME ...] [--checks a,b]`` runs the oracle table
(:mod:`chainrule.testing.oracle`) and prints one row per op with the largest error of each
check; it exits non-zero when any check fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from chainrule.testing import oracle
from chainrule.testing.tables import all_ops


def _gradcheck(args: argparse.Namespace) -> int:
    ops = all_ops()
    if args.op:
        known = {op.name for op in ops}
        unknown = sorted(set(args.op) - known)
        if unknown:
            print(f"chainrule gradcheck: unknown op(s) {', '.join(unknown)}", file=sys.stderr)
            print(f"known ops: {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        ops = [op for op in ops if op.name in args.op]
    checks = args.checks.split(",") if args.checks else None
    if checks:
        bad = [c for c in checks if c not in oracle.CHECKS]
        if bad:
            print(f"chainrule gradcheck: unknown check(s) {', '.join(bad)}; "
                  f"choose from {', '.join(oracle.CHECKS)}", file=sys.stderr)  # fmt: skip
            return 2
    if not oracle.torch_available():
        print("(torch is not importable: the torch column is skipped)")
    start = time.perf_counter()
    rows = oracle.run_table(ops, checks)
    print(oracle.format_table(rows))
    failed = sum(not r["ok"] for r in rows)
    took = time.perf_counter() - start
    print(f"\n{len(rows) - failed} ops passed, {failed} failed ({took:.1f} s)")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule", description="chainrule: the chain rule, run backwards, readably."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gc = sub.add_parser("gradcheck", help="check every op against central differences")
    gc.add_argument("--op", action="append", help="only this op (repeatable)")
    gc.add_argument("--checks", help=f"comma-separated subset of: {', '.join(oracle.CHECKS)}")
    gc.set_defaults(run=_gradcheck)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

"""The ``chainrule`` command line.

``chainrule gradcheck`` runs the oracle tables and prints one row per op
(:mod:`chainrule.testing.oracle` and the nn op tables) and one row per module
(:mod:`chainrule.testing.modules`), each with the largest error of each check; it exits
non-zero when any check fails. Options:

* ``--op NAME`` (repeatable): only these ops; ``--module NAME`` (repeatable): only these
  module entries (a class name such as ``MSELoss`` picks all of its entries). Naming ops
  only runs no modules, and the other way round; naming both runs both.
* ``--ops-only`` / ``--modules-only``: one table.
* ``--checks a,b``: a subset of the checks, by name, from either table (``gradcheck,
  fwd_rev, gradgrad, torch, numpy`` for ops; ``input_jac, param_jac, fwd_rev, backward,
  torch`` for modules); each table runs the ones it has.

``chainrule train [--dataset ...] [--model ...] [--epochs N] ...`` trains a network on a
built-in dataset and writes its checkpoint, history and plots (:mod:`chainrule.train.cli`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from chainrule.testing import modules, oracle
from chainrule.testing.tables import all_ops
from chainrule.train import cli as train_cli


def _err(msg: str) -> None:
    print(f"chainrule gradcheck: {msg}", file=sys.stderr)


def _matches(name: str, wanted: str, kind: str) -> bool:
    """An exact name; for modules also a class name, which picks all of its entries
    (``MSELoss`` matches ``MSELoss[mean]``, ``MSELoss[sum]``...)."""
    return name == wanted or (kind == "module" and name.startswith((f"{wanted}[", f"{wanted}(")))


def _select(kind: str, wanted: list[str] | None, known: list[str]) -> list[str] | None:
    """The names asked for (all when ``wanted`` is None); None after reporting unknown ones."""
    if not wanted:
        return known
    unknown = sorted(w for w in set(wanted) if not any(_matches(n, w, kind) for n in known))
    if unknown:
        _err(f"unknown {kind}(s) {', '.join(unknown)}")
        print(f"known {kind}s: {', '.join(sorted(known))}", file=sys.stderr)
        return None
    return [n for n in known if any(_matches(n, w, kind) for w in wanted)]


def _gradcheck(args: argparse.Namespace) -> int:
    run_ops = not args.modules_only and (bool(args.op) or not args.module)
    run_modules = not args.ops_only and (bool(args.module) or not args.op)
    if (args.op and not run_ops) or (args.module and not run_modules):
        _err("--op selects ops and --module selects modules; drop --ops-only/--modules-only")
        return 2
    checks = args.checks.split(",") if args.checks else None
    op_checks = mod_checks = None
    if checks:
        bad = [c for c in checks if c not in oracle.CHECKS and c not in modules.CHECKS]
        if bad:
            _err(f"unknown check(s) {', '.join(bad)}; choose from "
                 f"{', '.join(dict.fromkeys([*oracle.CHECKS, *modules.CHECKS]))}")  # fmt: skip
            return 2
        op_checks = [c for c in checks if c in oracle.CHECKS]
        mod_checks = [c for c in checks if c in modules.CHECKS]
        run_ops = run_ops and bool(op_checks)
        run_modules = run_modules and bool(mod_checks)
        if not (run_ops or run_modules):
            _err(f"none of the checks {', '.join(checks)} applies to the selected table(s)")
            return 2
    ops = all_ops()
    op_names = _select("op", args.op, [op.name for op in ops]) if run_ops else []
    mod_names = (_select("module", args.module, [m.name for m in modules.MODULES])
                 if run_modules else [])  # fmt: skip
    if op_names is None or mod_names is None:
        return 2
    if not oracle.torch_available():
        print("(torch is not importable: the torch column is skipped)")
    start = time.perf_counter()
    summary, failed = [], 0
    if run_ops:
        rows = oracle.run_table([op for op in ops if op.name in op_names], op_checks)
        print(oracle.format_table(rows))
        bad_ops = sum(not r["ok"] for r in rows)
        summary.append(f"{len(rows) - bad_ops} ops passed, {bad_ops} failed")
        failed += bad_ops
    if run_modules:
        if run_ops:
            print()
        infos = [m for m in modules.MODULES if m.name in mod_names]
        rows = modules.run_modules(infos, mod_checks)
        print(modules.format_modules(rows))
        bad_mods = sum(not r["ok"] for r in rows)
        summary.append(f"{len(rows) - bad_mods} modules passed, {bad_mods} failed")
        failed += bad_mods
    took = time.perf_counter() - start
    print(f"\n{'; '.join(summary)} ({took:.1f} s)")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule", description="chainrule: the chain rule, run backwards, readably."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gc = sub.add_parser(
        "gradcheck", help="check every op and module against central differences (and torch)"
    )
    gc.add_argument("--op", action="append", help="only this op (repeatable)")
    gc.add_argument("--module", action="append", help="only this module entry (repeatable)")
    which = gc.add_mutually_exclusive_group()
    which.add_argument("--ops-only", action="store_true", help="only the op table")
    which.add_argument("--modules-only", action="store_true", help="only the module table")
    gc.add_argument(
        "--checks",
        help=f"comma-separated subset of: {', '.join(oracle.CHECKS)} (ops); "
        f"{', '.join(modules.CHECKS)} (modules)",
    )
    gc.set_defaults(run=_gradcheck)
    train_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

"""Testing tools shipped with chainrule: the op oracle table and its generic checks.

``chainrule.testing.oracle`` holds :class:`OpInfo`, the table ``OPS`` of every built-in op,
and the checks (gradcheck, forward vs reverse, double backward, torch) that both the test
suite and the ``chainrule gradcheck`` command run over it.
"""

from chainrule.testing.oracle import (
    CHECKS,
    OPS,
    OpInfo,
    Sample,
    check_fwd_rev,
    check_gradcheck,
    check_gradgrad,
    check_reference,
    check_torch,
    format_table,
    get_op,
    run_table,
    torch_available,
)

__all__ = [
    "CHECKS", "OPS", "OpInfo", "Sample", "check_fwd_rev", "check_gradcheck", "check_gradgrad",
    "check_reference", "check_torch", "format_table", "get_op", "run_table", "torch_available",
]  # fmt: skip

"""Every oracle table in one list: the core ops and the nn families.

``chainrule gradcheck`` and the table-coverage test use :func:`all_ops`; each family
module holds its own entries next to the ops it tests.
"""

from __future__ import annotations

from chainrule.testing.oracle import OPS, OpInfo


def all_ops() -> list[OpInfo]:
    """The core table followed by the nn tables (functional, normalisation/attention,
    convolution/pooling, recurrent layers)."""
    from chainrule.testing.oracle_conv import CONV_OPS
    from chainrule.testing.oracle_nn import NN_OPS
    from chainrule.testing.oracle_norm import NORM_OPS
    from chainrule.testing.oracle_rnn import RNN_OPS

    return [*OPS, *NN_OPS, *NORM_OPS, *CONV_OPS, *RNN_OPS]

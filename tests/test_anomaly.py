"""detect_anomaly: the first NaN/Inf names the op and the user line that created it."""

import inspect
import os
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.mode import is_grad_enabled

THIS_FILE = os.path.basename(__file__)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def here() -> int:
    """The caller's line number."""
    return inspect.currentframe().f_back.f_lineno


def where(msg: str, line: int) -> bool:
    return f"{THIS_FILE}:{line}" in msg


def test_forward_log_of_zero_names_op_and_line():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        line = here() + 1
        cr.log(x)
    msg = str(info.value)
    assert "'log'" in msg
    assert where(msg, line), msg
    assert "forward" in msg
    assert isinstance(info.value, FloatingPointError)
    assert isinstance(info.value, cr.ChainruleError)


def test_forward_zero_times_inf_names_mul():
    a = cr.tensor([0.0, 1.0], requires_grad=True)
    b = cr.tensor([np.inf, 2.0])
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        h = a + 1.0  # fine
        line = here() + 1
        h = (a * b).sum()
    msg = str(info.value)
    assert "'mul'" in msg and where(msg, line), msg
    del h


def test_forward_through_tensor_method_names_user_line():
    x = cr.tensor([-1.0, 4.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        line = here() + 1
        x.sqrt()  # the op is called from chainrule's Tensor method; the user line is this one
    msg = str(info.value)
    assert "'sqrt'" in msg and where(msg, line), msg


def test_forward_in_user_helper_names_helper_line():
    helper_line = here() + 3

    def helper(t):
        return t / (t - t)  # 0/0

    x = cr.tensor([1.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
        helper(x)
    msg = str(info.value)
    assert "'div'" in msg and where(msg, helper_line), msg


def test_backward_nan_names_op_and_creation_line():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with cr.detect_anomaly():
        line = here() + 1
        y = cr.sqrt(x)  # fine in forward: sqrt(0) = 0
        loss = (y * 3).sum()
        backward_line = here() + 2
        with pytest.raises(cr.AnomalyError) as info:
            loss.backward()  # d sqrt / dx at 0 is inf
    msg = str(info.value)
    assert "'sqrt'" in msg
    assert "backward" in msg
    assert where(msg, line), msg
    assert not where(msg, backward_line)


def test_backward_nan_from_zero_times_inf_gradient():
    x = cr.tensor([0.0], requires_grad=True)
    with cr.detect_anomaly():
        y = x.sqrt()
        line = here() + 1
        z = y * 0.0
        with pytest.raises(cr.AnomalyError) as info:
            z.sum().backward()
    # z's mul hands sqrt a zero gradient; 0 / (2 sqrt(0)) is NaN in sqrt's backward
    assert "'sqrt'" in str(info.value), str(info.value)
    assert not where(str(info.value), line)


def test_no_error_outside_the_context():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = cr.log(x)
        assert np.isneginf(y.numpy()[0])
        s = cr.sqrt(x)
        s.sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_clean_computation_passes_and_gradients_match():
    x = cr.tensor([0.5, 2.0], requires_grad=True)
    with cr.detect_anomaly():
        (x.log() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.log(x.numpy()) + 1, rtol=1e-6)


def test_state_restored_after_error():
    x = cr.tensor([0.0], requires_grad=True)
    with pytest.raises(cr.AnomalyError), cr.detect_anomaly():
        cr.log(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cr.log(x)  # no longer checked
    assert is_grad_enabled()


def test_constants_checked_too():
    # ops on tensors that do not require grad are checked as well
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError, match="'log'"):
        cr.log(cr.tensor([0.0]))

"""nn.utils: gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def params_with_grads(*grads):
    out = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g), np.float32))
        p.grad = cr.tensor(np.asarray(g, np.float32))
        out.append(p)
    return out


def test_clip_grad_norm_scales_jointly():
    ps = params_with_grads([3.0, 0.0], [[4.0]])
    norm = nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(ps[0].grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(ps[1].grad.numpy(), [[0.8]], rtol=1e-5)
    ps = params_with_grads([0.3, 0.4])
    assert float(nn.utils.clip_grad_norm_(ps, max_norm=1.0)) == pytest.approx(0.5)
    np.testing.assert_allclose(ps[0].grad.numpy(), [0.3, 0.4])  # below the limit: unchanged
    ps = params_with_grads([1.0, -7.0])
    assert float(nn.utils.clip_grad_norm_(ps, 2.0, norm_type=math.inf)) == 7.0
    ps = params_with_grads([np.inf])
    with pytest.raises(cr.AnomalyError, match="error_if_nonfinite"):
        nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    ps = params_with_grads([-3.0, 0.5, 2.0])
    nn.utils.clip_grad_value_(ps, 1.0)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [-1.0, 0.5, 1.0])

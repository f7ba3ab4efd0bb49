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


def test_parameters_to_vector_and_back() -> None:
    m = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Linear(4, 2))
    v = cr.nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (26,)
    np.testing.assert_array_equal(v.numpy()[:12], m[0].weight.numpy().ravel())
    (v * v).sum().backward()  # differentiable: each parameter gets its slice's gradient
    np.testing.assert_allclose(m[1].bias.grad.numpy(), 2 * m[1].bias.numpy())
    cr.nn.utils.vector_to_parameters(np.arange(26, dtype=np.float32), m.parameters())
    np.testing.assert_array_equal(m[1].bias.numpy(), [24, 25])
    with pytest.raises(cr.ShapeError, match=r"the 26 parameter values, got shape \(3,\)"):
        cr.nn.utils.vector_to_parameters(np.zeros(3), m.parameters())


def test_pad_sequence_and_unpad_sequence() -> None:
    rng = np.random.default_rng(0)
    seqs = [cr.tensor(rng.standard_normal((n, 2)), requires_grad=True) for n in (3, 1, 4)]
    pad_sequence, unpad_sequence = cr.nn.utils.rnn.pad_sequence, cr.nn.utils.rnn.unpad_sequence
    out = pad_sequence(seqs, padding_value=-1.0)
    assert out.shape == (4, 3, 2)
    np.testing.assert_array_equal(out.numpy()[1:, 1], -np.ones((3, 2)))
    left = pad_sequence(seqs, batch_first=True, padding_side="left")
    assert left.shape == (3, 4, 2)
    np.testing.assert_array_equal(left.numpy()[1, 3], seqs[1].numpy()[0])
    np.testing.assert_array_equal(left.numpy()[1, :3], np.zeros((3, 2)))
    (out * out).sum().backward()  # each sequence gets its own part of the gradient
    for s in seqs:
        np.testing.assert_allclose(s.grad.numpy(), 2 * s.numpy())
    back = unpad_sequence(out, [3, 1, 4])
    for b, s in zip(back, seqs):
        np.testing.assert_array_equal(b.numpy(), s.numpy())
    with pytest.raises(cr.ShapeError, match="no sequences"):
        pad_sequence([])
    with pytest.raises(cr.ShapeError, match=r"sequence 1 has shape \(2, 3\)"):
        pad_sequence([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(cr.nn.functional.ArgumentError, match="padding_side"):
        pad_sequence(seqs, padding_side="middle")
    with pytest.raises(cr.ShapeError, match="2 lengths for a batch of 3"):
        unpad_sequence(out, [1, 2])
    with pytest.raises(cr.ShapeError, match=r"length 5 is outside 0\.\.4"):
        unpad_sequence(out, [1, 2, 5])


@pytest.mark.torch
def test_pad_sequence_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((n, 3, 2)) for n in (2, 5, 1)]
    for batch_first in (False, True):
        for side in ("right", "left"):
            ours = cr.nn.utils.rnn.pad_sequence(arrays, batch_first, 0.5, side)
            theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in arrays],
                                                     batch_first, 0.5, side)  # fmt: skip
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())

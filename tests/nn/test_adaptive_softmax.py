"""``nn.AdaptiveLogSoftmaxWithLoss``: against PyTorch's module with the same weights
(output, loss, log_prob, predict, and the gradients of the loss), and without torch:
normalised log-probabilities, the output as log_prob at the targets, gradients (first and
second order) by central differences, and the errors for bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ShapeError
from chainrule.nn.functional import ArgumentError, LabelError

# (in_features, n_classes, cutoffs, div_value, head_bias, targets); the targets reach the
# shortlist and every cluster, except the last configuration's (its tail is left unused)
CONFIGS = [
    (6, 5, [2], 4.0, False, [0, 1, 2, 4, 3]),
    (8, 10, [3, 6], 2.0, True, [0, 4, 9, 2, 7, 5, 1]),
    (9, 12, [2, 5, 8], 4.0, True, [11, 0, 3, 6, 9, 1, 7, 4]),
    (8, 12, [2, 5, 8], 2.0, False, [11, 0, 3, 6, 9, 1, 7, 4, 10]),
    (5, 7, [3], 2.0, False, [0, 1, 2, 1]),
]


def _module(in_features: int, n_classes: int, cutoffs: list, div_value: float,
            head_bias: bool) -> nn.AdaptiveLogSoftmaxWithLoss:  # fmt: skip
    cr.manual_seed(0)
    return nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=div_value,
                                         head_bias=head_bias).double()  # fmt: skip


def _close(a: object, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"cutoffs={c[2]}-div={c[3]}-bias={c[4]}")
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_matches_torch(config: tuple, batched: bool) -> None:
    torch = pytest.importorskip("torch")
    n_in, n_classes, cutoffs, div_value, head_bias, targets = config
    m = _module(n_in, n_classes, cutoffs, div_value, head_bias)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(n_in, n_classes, cutoffs, div_value=div_value,
                                             head_bias=head_bias).double()  # fmt: skip
    assert list(m.state_dict()) == list(tm.state_dict())
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                        m.state_dict().items()}, strict=True)  # fmt: skip
    rng = np.random.default_rng(len(targets))
    x0 = rng.standard_normal((len(targets), n_in))
    t0 = np.array(targets)
    if not batched:
        x0, t0 = x0[-1], t0[-1]
    x, tx = cr.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    out = m(x, t0)
    tout = tm(tx, torch.tensor(t0))
    assert out.output.shape == tuple(tout.output.shape) and out.loss.shape == ()
    _close(out.output.numpy(), tout.output.detach().numpy())
    _close(out.loss.numpy(), tout.loss.detach().numpy())
    out.loss.backward()
    tout.loss.backward()
    _close(x.grad.numpy(), tx.grad.numpy())
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        tg = tparams[name].grad
        want = np.zeros(p.shape) if tg is None else tg.numpy()
        _close(np.zeros(p.shape) if p.grad is None else p.grad.numpy(), want)
    # torch's log_prob and predict take (N, in_features) only: unbatched, compare with N=1
    tx0 = torch.tensor(x0 if batched else x0[None])
    with torch.no_grad():
        lp, tlp = m.log_prob(x0).numpy(), tm.log_prob(tx0).numpy()
        pred, tpred = m.predict(x0).numpy(), tm.predict(tx0).numpy()
    if not batched:
        tlp, tpred = tlp[0], tpred[0]
    assert lp.shape == tlp.shape
    _close(lp, tlp)
    assert pred.shape == np.shape(tpred) and pred.dtype == np.int64
    np.testing.assert_array_equal(pred, tpred)


@pytest.mark.torch
def test_predict_matches_torch_on_every_branch() -> None:
    """Rows whose head argmax is a shortlist class, rows where it is a cluster, and both
    mixed (PyTorch's three branches) give the classes of torch's predict."""
    torch = pytest.importorskip("torch")
    m = _module(4, 9, [3, 6], 2.0, True)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(4, 9, [3, 6], div_value=2.0, head_bias=True)
    tm = tm.double()
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                        m.state_dict().items()})  # fmt: skip
    # push the head towards the shortlist (bias) or the clusters
    x0 = np.random.default_rng(3).standard_normal((40, 4)) * 3
    for shift in (np.array([5.0, 5, 5, -5, -5]), np.array([-5.0, -5, -5, 5, 5]), np.zeros(5)):
        with cr.no_grad():
            m.head.bias.data[...] = shift
        with torch.no_grad():
            tm.head.bias.copy_(torch.from_numpy(shift))
            np.testing.assert_array_equal(m.predict(x0).numpy(),
                                          tm.predict(torch.tensor(x0)).numpy())  # fmt: skip


def test_log_prob_is_normalised_and_output_is_log_prob_at_targets() -> None:
    m = _module(8, 12, [2, 5, 8], 2.0, True)
    x = np.random.default_rng(1).standard_normal((6, 8))
    t = np.array([0, 3, 11, 6, 9, 1])
    lp = m.log_prob(x).numpy()
    assert lp.shape == (6, 12)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, rtol=1e-12)
    out, loss = m(x, t)
    np.testing.assert_allclose(out.numpy(), lp[np.arange(6), t], rtol=1e-12)
    np.testing.assert_allclose(loss.numpy(), -lp[np.arange(6), t].mean(), rtol=1e-12)
    np.testing.assert_array_equal(m.predict(x).numpy(), lp.argmax(axis=1))
    # unbatched: () output, (n_classes,) log_prob, () prediction
    out1, loss1 = m(x[2], np.array(11))
    assert out1.shape == () and loss1.shape == ()
    np.testing.assert_allclose(out1.numpy(), lp[2, 11], rtol=1e-12)
    assert m.log_prob(x[2]).shape == (12,) and m.predict(x[2]).shape == ()


def test_attributes_and_state_dict_keys() -> None:
    m = nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 10], div_value=2.0)
    assert (m.shortlist_size, m.n_clusters, m.head_size, m.cutoffs) == (4, 2, 6, [4, 10, 20])
    assert (m.head.in_features, m.head.out_features, m.head.bias) == (16, 6, None)
    assert [(s[0].out_features, s[1].out_features) for s in m.tail] == [(8, 6), (4, 10)]
    assert list(m.state_dict()) == ["head.weight", "tail.0.0.weight", "tail.0.1.weight",
                                    "tail.1.0.weight", "tail.1.1.weight"]  # fmt: skip
    assert m.head.weight.dtype == np.float32


def test_gradcheck_and_gradgradcheck_of_the_loss() -> None:
    m = _module(4, 6, [2, 4], 2.0, True)
    t = np.array([0, 3, 5, 1])
    x = cr.tensor(np.random.default_rng(2).standard_normal((4, 4)), requires_grad=True)
    assert cr.gradcheck(lambda x: m(x, t).loss, (x,))
    assert cr.gradcheck(lambda x: m(x, t).output, (x,))
    assert cr.gradgradcheck(lambda x: m(x, t).loss, (x,))
    assert cr.gradcheck(lambda x: m.log_prob(x), (x,))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cutoffs": []}, ArgumentError, "length larger than 0"),
        ({"cutoffs": [5, 2]}, ArgumentError, r"sorted in increasing order, got \[5, 2\]"),
        ({"cutoffs": [2, 2]}, ArgumentError, r"unique.*\[2, 2\]"),
        ({"cutoffs": [0, 3]}, ArgumentError, r"1\.\.9, got \[0\]"),
        ({"cutoffs": [3, 10]}, ArgumentError, r"1\.\.9, got \[10\]"),
        ({"cutoffs": [2.5]}, ArgumentError, r"must be ints, got \[2\.5\]"),
        ({"cutoffs": 3}, TypeError, "cutoffs must be a sequence"),
        ({"div_value": 0.0}, ArgumentError, "div_value must be a finite number > 0, got 0.0"),
        ({"div_value": -2}, ArgumentError, "div_value .* got -2"),
        ({"div_value": "4"}, TypeError, "div_value must be a number"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"in_features": 8, "n_classes": 10, "cutoffs": [3, 6], **kwargs}
    with pytest.raises(error, match=match):
        nn.AdaptiveLogSoftmaxWithLoss(**args)


def test_bad_inputs_and_targets() -> None:
    m = nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3, 6])
    x = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(LabelError, match=r"target 10 is outside the valid range 0\.\.9"):
        m(x, np.array([0, 10, 2]))
    with pytest.raises(LabelError, match=r"target -1 is outside the valid range 0\.\.9"):
        m(x, np.array([0, -1, 2]))
    with pytest.raises(LabelError, match="integer dtype, got float64"):
        m(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"target shape \(2,\) does not match input shape"):
        m(x, np.array([0, 1]))
    with pytest.raises(ShapeError, match=r"target shape \(3,\) does not match input shape \(4,\)"):
        m(x[0], np.array([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"input shape \(3, 5\) does not fit: expected \(N, 4\)"):
        m(np.zeros((3, 5)), np.array([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"log_prob: input shape \(2, 3, 4\)"):
        m.log_prob(np.zeros((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"predict: input shape \(5,\)"):
        m.predict(np.zeros(5))

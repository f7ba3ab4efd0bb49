"""Metrics: accuracy for class scores and binary outputs, mae, mse."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.train import TrainError, accuracy, mae, mse
from chainrule.train.metrics import resolve_metrics


def test_accuracy_of_class_scores() -> None:
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    assert accuracy(scores, np.array([0, 1, 2, 1])) == 0.75
    assert accuracy(scores, np.eye(3)[[0, 1, 2, 1]]) == 0.75  # one-hot targets
    seq = np.zeros((2, 5, 4))
    seq[..., 2] = 1.0
    assert accuracy(seq, np.full((2, 5), 2)) == 1.0  # (N, T, C) scores, (N, T) labels
    with pytest.raises(TrainError, match="integer labels of shape"):
        accuracy(scores, np.array([0, 1]))


def test_binary_accuracy_thresholds() -> None:
    probs = np.array([[0.9], [0.4], [0.6], [0.1]])
    assert accuracy(probs, np.array([1, 0, 0, 0])) == 0.75  # threshold 0.5
    assert accuracy(probs.ravel(), np.array([1.0, 0.0, 1.0, 0.0])) == 1.0
    logits = np.array([2.0, -1.0, 0.3, -0.2])
    assert accuracy(logits, np.array([1, 0, 1, 0]), threshold=0.0) == 1.0
    assert accuracy(logits, np.array([1, -1, 1, -1])) == 1.0  # +-1 targets: sign
    fns = resolve_metrics(["accuracy"], logits=True)
    assert fns[0](logits, np.array([1, 0, 1, 0])) == 1.0


def test_regression_metrics() -> None:
    out = np.array([[1.0], [2.0], [4.0]])
    tgt = np.array([1.0, 3.0, 2.0])
    assert mae(out, tgt) == pytest.approx(1.0)
    assert mse(out, tgt) == pytest.approx(5.0 / 3)
    with pytest.raises(TrainError, match="different sizes"):
        mse(out, np.zeros(4))


def test_metric_names() -> None:
    assert [m.name for m in resolve_metrics(("acc", "mae"))] == ["accuracy", "mae"]
    assert resolve_metrics(None) == []

    def loss(outputs: np.ndarray, targets: np.ndarray) -> float:
        return 0.0

    with pytest.raises(TrainError, match="may not be called 'loss'"):
        resolve_metrics(["mse", loss])

"""random_search and its spaces."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.train import TrainError, choice, loguniform, random_search, uniform

from ._helpers import blobs, mlp

SPACE = {
    "lr": loguniform(1e-4, 1e-1),
    "momentum": uniform(0.5, 0.99),
    "hidden": choice([[8], [16, 8], [32]]),
    "epochs": 2,  # a fixed value passes through
}


def fake_score(params: dict) -> float:
    """A deterministic score that also uses chainrule's generator."""
    return -abs(math.log10(params["lr"]) + 2) + float(cr.rand(1).item()) * 1e-3


def test_spaces_sample_in_range() -> None:
    rng = np.random.default_rng(0)
    lrs = np.array([loguniform(1e-4, 1e-1).sample(rng) for _ in range(2000)])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1
    decades = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1])[0]
    assert decades.min() > 550  # log-uniform: about 667 per decade
    us = np.array([uniform(-1, 1).sample(rng) for _ in range(1000)])
    assert us.min() >= -1 and us.max() < 1 and abs(us.mean()) < 0.1
    picks = [choice([[1, 2], "a", None]).sample(rng) for _ in range(300)]
    assert {repr(p) for p in picks} == {"[1, 2]", "'a'", "None"}
    assert [1, 2] in picks  # options come back as they are


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: loguniform(0, 1), "0 < low"),
        (lambda: loguniform(1, 1), "low < high"),
        (lambda: uniform(2, 1), "low < high"),
        (lambda: uniform("a", 1), "takes numbers"),
        (lambda: choice([]), "at least one"),
        (lambda: choice("abc"), "list of options"),
    ],
)
def test_bad_spaces(make, match: str) -> None:
    with pytest.raises(TrainError, match=match):
        make()


def test_trials_sorted_best_first_and_reproducible() -> None:
    a = random_search(fake_score, SPACE, trials=12, seed=3)
    assert len(a) == 12
    scores = [t.score for t in a]
    assert scores == sorted(scores, reverse=True)
    assert sorted(t.number for t in a) == list(range(12))
    for t in a:
        assert 1e-4 <= t.params["lr"] <= 1e-1 and 0.5 <= t.params["momentum"] < 0.99
        assert t.params["hidden"] in ([8], [16, 8], [32]) and t.params["epochs"] == 2
    b = random_search(fake_score, SPACE, trials=12, seed=3)
    assert a == b  # same params, scores (chainrule's generator reseeded per trial) and seeds
    c = random_search(fake_score, SPACE, trials=12, seed=4)
    assert [t.params for t in a] != [t.params for t in c]
    # trial i depends on (seed, i) only: a shorter search is a prefix of a longer one
    short = random_search(fake_score, SPACE, trials=5, seed=3)
    assert sorted(short, key=lambda t: t.number) == sorted(a, key=lambda t: t.number)[:5]


def test_mode_min_nan_last_and_rng_restored() -> None:
    values = iter([0.5, math.nan, 0.1, 0.9])
    cr.manual_seed(123)
    expected = cr.rand(2).numpy()
    cr.manual_seed(123)
    trials = random_search(lambda p: next(values), {"x": uniform(0, 1)}, trials=4, mode="min")
    assert [t.number for t in trials] == [2, 0, 3, 1]
    assert math.isnan(trials[-1].score)
    assert np.array_equal(cr.rand(2).numpy(), expected)  # the global generator is untouched


def test_build_fn_must_return_a_number() -> None:
    with pytest.raises(TrainError, match="validation score as a number"):
        random_search(lambda p: "good", {"x": uniform(0, 1)}, trials=1)
    with pytest.raises(TrainError, match="trials must be"):
        random_search(fake_score, SPACE, trials=0)
    with pytest.raises(TrainError, match="mode must be"):
        random_search(fake_score, SPACE, mode="best")


def test_random_search_with_fit(capsys: pytest.CaptureFixture) -> None:
    X, y = blobs(90)
    Xv, yv = blobs(45, seed=1)

    def build(params: dict) -> float:
        model = mlp((4, params["hidden"], 3))
        opt = cr.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9)
        h = cr.train.fit(
            model, nn.CrossEntropyLoss(), opt, (X, y), val_data=(Xv, yv), epochs=3, progress=False
        )
        return min(h["val_loss"])

    space = {"lr": loguniform(1e-5, 1e-1), "hidden": choice([4, 16])}
    trials = random_search(build, space, trials=4, seed=0, mode="min", verbose=True)
    assert [t.score for t in trials] == sorted(t.score for t in trials)
    assert trials == random_search(build, space, trials=4, seed=0, mode="min")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("trial 1/4  score ")

"""Random hyper-parameter search (Bergstra and Bengio, "Random Search for Hyper-Parameter
Optimization", JMLR 2012): with a few important hyper-parameters among many, random
points cover each important axis far better than a grid of the same size."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.tensor import Tensor
from chainrule.train.metrics import TrainError

__all__ = ["Distribution", "Trial", "choice", "loguniform", "random_search", "uniform"]


class Distribution:
    """A hyper-parameter's distribution: ``sample(rng)`` draws one value."""

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError


def _bounds(name: str, low: Any, high: Any) -> tuple[float, float]:
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, int | float | np.number):
            raise TrainError(f"{name}(low, high) takes numbers, got {low!r}, {high!r}")
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise TrainError(f"{name}(low, high) needs finite low < high, got {low!r}, {high!r}")
    return low, high


class _Uniform(Distribution):
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = _bounds("uniform", low, high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def __repr__(self) -> str:
        return f"uniform({self.low!r}, {self.high!r})"


class _LogUniform(Distribution):
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = _bounds("loguniform", low, high)
        if self.low <= 0:
            raise TrainError(f"loguniform(low, high) needs 0 < low, got {low!r}")

    def sample(self, rng: np.random.Generator) -> float:
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(value, self.low), self.high)  # exp(log(x)) may round past a bound

    def __repr__(self) -> str:
        return f"loguniform({self.low!r}, {self.high!r})"


class _Choice(Distribution):
    def __init__(self, options: Sequence[Any]) -> None:
        if isinstance(options, str | bytes | Mapping) or not isinstance(options, Sequence):
            raise TrainError(f"choice(options) takes a list of options, got {options!r:.80}")
        if not options:
            raise TrainError("choice(options) needs at least one option")
        self.options = list(options)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def __repr__(self) -> str:
        return f"choice({self.options!r})"


def uniform(low: float, high: float) -> Distribution:
    """A float drawn uniformly from ``[low, high)`` (dropout rates, momenta)."""
    return _Uniform(low, high)


def loguniform(low: float, high: float) -> Distribution:
    """A float whose logarithm is uniform on ``[log low, log high)``, ``0 < low < high``:
    every factor of ten between the bounds is equally likely (learning rates, weight
    decays)."""
    return _LogUniform(low, high)


def choice(options: Sequence[Any]) -> Distribution:
    """One of ``options``, each equally likely (returned as it is: a list option such as
    ``[128, 64]`` comes back as that list)."""
    return _Choice(options)


@dataclass
class Trial:
    """One evaluated point of a search: its ``number`` (0-based, in sampling order), the
    ``params`` it tried, the ``score`` ``build_fn`` returned, the ``seed`` chainrule's
    generator was set to before ``build_fn`` ran, and the ``seconds`` it took (not
    compared by ``==``)."""

    number: int
    params: dict[str, Any]
    score: float
    seed: int
    seconds: float = field(default=0.0, compare=False)


def _sample(space: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    return {
        name: dist.sample(rng) if isinstance(dist, Distribution) else dist
        for name, dist in space.items()
    }


def _score(value: Any, number: int) -> float:
    if isinstance(value, Tensor):
        if value.size != 1:
            raise TrainError(
                f"build_fn returned a Tensor of shape {value.shape} for trial {number}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TrainError(
            f"build_fn must return the validation score as a number, got {type(value).__name__} "
            f"for trial {number}"
        )
    return float(value)


def random_search(
    build_fn: Callable[[dict[str, Any]], float],
    space: Mapping[str, Any],
    trials: int = 10,
    seed: int = 0,
    mode: str = "max",
    verbose: bool = False,
) -> list[Trial]:
    """Try ``trials`` random points of ``space`` and return them best first.

    The contract: ``build_fn(params)`` gets a dict with one sampled value per key of
    ``space``, builds and trains whatever it needs (typically a model, with
    :func:`chainrule.train.fit`) and **returns the validation score as a number** (e.g.
    ``max(history["val_accuracy"])``). ``mode="max"`` (the default) ranks higher scores
    first; use ``mode="min"`` for losses. NaN scores rank last; ties keep sampling order.

    ``space`` maps names to :func:`loguniform`, :func:`uniform` or :func:`choice`
    distributions; any other value is passed through unchanged (a fixed setting).

    Reproducible: trial ``i`` draws its parameters from a generator seeded with
    ``(seed, i)`` alone, and chainrule's global generator is set with ``cr.manual_seed``
    to a seed derived from ``(seed, i)`` (recorded as ``trial.seed``) just before
    ``build_fn`` runs, so weights, shuffling and dropout inside it repeat too; the same
    ``seed`` gives the same trials and scores. The global generator is put back as it was
    afterwards. With ``verbose=True`` one line per trial is printed.

    Example::

        def build(params):
            cr.manual_seed(0)  # optional: the same initial weights for every trial
            model = make_mlp(params["hidden"])
            opt = cr.optim.Adam(model.parameters(), lr=params["lr"])
            h = cr.train.fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=10,
                             progress=False)
            return max(h["val_accuracy"])

        best = cr.train.random_search(
            build, {"lr": loguniform(1e-4, 1e-1), "hidden": choice([32, 64, 128])},
            trials=20, seed=0)[0]
    """
    if not callable(build_fn):
        raise TrainError(f"build_fn must be callable, got {build_fn!r:.80}")
    if not isinstance(space, Mapping) or not space:
        raise TrainError("space must be a non-empty dict of name -> distribution")
    for name in space:
        if not isinstance(name, str):
            raise TrainError(f"space keys must be strings, got {name!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise TrainError(f"trials must be an int >= 1, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TrainError(f"seed must be an int >= 0, got {seed!r}")
    if mode not in ("max", "min"):
        raise TrainError(f"mode must be 'max' or 'min', got {mode!r}")
    saved_rng = backend.get_rng_state()
    results: list[Trial] = []
    try:
        for i in range(trials):
            seq = np.random.SeedSequence(seed, spawn_key=(i,))
            params = _sample(space, np.random.default_rng(seq))
            trial_seed = int(seq.generate_state(1, dtype=np.uint32)[0])
            backend.manual_seed(trial_seed)
            start = time.perf_counter()
            score = _score(build_fn(dict(params)), i)
            trial = Trial(i, params, score, trial_seed, time.perf_counter() - start)
            results.append(trial)
            if verbose:
                shown = "  ".join(f"{k}={_show(v)}" for k, v in params.items())
                print(f"trial {i + 1}/{trials}  score {score:.4f}  {shown}", flush=True)
    finally:
        backend.set_rng_state(saved_rng)

    def rank(t: Trial) -> tuple[bool, float, int]:
        bad = math.isnan(t.score)
        return (bad, 0.0 if bad else (-t.score if mode == "max" else t.score), t.number)

    return sorted(results, key=rank)


def _show(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else repr(v)

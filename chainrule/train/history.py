"""``History``: what :func:`chainrule.train.fit` returns, one value per epoch per metric."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["History"]


class History:
    """Per-epoch results of a training run (Keras's ``History``).

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...],
            "val_accuracy": [...], "lr": [...]}`` -- one float per completed epoch in each
            list. ``"loss"`` and the metrics are averages over the epoch's training batches
            (weighted by batch size, computed as the weights change, as Keras reports
            them); ``"val_..."`` entries are computed after the epoch, in eval mode, on the
            validation data; ``"lr"`` is the first parameter group's learning rate during
            the epoch.
        epoch: the 0-based indices of the completed epochs.
        epoch_times: wall-clock seconds of each epoch (training and validation); kept out
            of ``history`` so that two runs with the same seed have equal histories.
        stopped_early: True when a callback (e.g. ``EarlyStopping``) ended the run.

    ``history["loss"]`` is ``history.history["loss"]``; ``"loss" in history``,
    ``history.keys()``, ``len(history)`` (epochs) work too.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.epoch_times: list[float] = []
        self.stopped_early = False

    def append(self, epoch: int, logs: dict[str, float], seconds: float = 0.0) -> None:
        """Record the results ``logs`` of ``epoch`` (0-based)."""
        n = len(self.epoch)
        for key, value in logs.items():
            column = self.history.setdefault(key, [math.nan] * n)
            column.append(float(value))
        for key, column in self.history.items():
            if key not in logs:
                column.append(math.nan)
        self.epoch.append(int(epoch))
        self.epoch_times.append(float(seconds))

    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(
                f"{key!r} is not in this history; it has {', '.join(self.history) or 'nothing'}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def __len__(self) -> int:
        return len(self.epoch)

    def keys(self) -> list[str]:
        return list(self.history)

    def items(self) -> list[tuple[str, list[float]]]:
        return list(self.history.items())

    def best(self, key: str, mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best value of ``key``: the largest for ``mode="max"``,
        the smallest for ``"min"``; ``"auto"`` is max for accuracies, min otherwise. NaN
        values are skipped; raises KeyError for an unknown key and ValueError if every
        value is NaN."""
        values = self[key]
        if mode == "auto":
            mode = "max" if "acc" in key or "auc" in key else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        finite = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
        if not finite:
            raise ValueError(f"every value of {key!r} is NaN")
        _, i = min(finite, key=lambda p: (p[0] if mode == "min" else -p[0], p[1]))
        return self.epoch[i], values[i]

    def to_dict(self) -> dict[str, Any]:
        """``{"history": ..., "epoch": ..., "epoch_times": ..., "stopped_early": ...}``
        (plain lists and numbers: JSON- and ``cr.save``-friendly)."""
        return {
            "history": {k: list(v) for k, v in self.history.items()},
            "epoch": list(self.epoch),
            "epoch_times": list(self.epoch_times),
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The inverse of :meth:`to_dict`."""
        h = cls()
        h.history = {str(k): [float(x) for x in v] for k, v in data["history"].items()}
        h.epoch = [int(e) for e in data["epoch"]]
        h.epoch_times = [float(t) for t in data.get("epoch_times", [0.0] * len(h.epoch))]
        h.stopped_early = bool(data.get("stopped_early", False))
        return h

    def to_json(self, path: str | os.PathLike) -> None:
        """Write ``history.history`` to ``path`` as JSON (NaN written as ``null``)."""
        clean = {k: [None if math.isnan(x) else x for x in v] for k, v in self.history.items()}
        Path(path).write_text(json.dumps(clean, indent=2) + "\n")

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History({len(self)} epochs{': ' + last if last else ''})"

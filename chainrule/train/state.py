"""Saving and loading a whole training run, so that it can be resumed exactly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule.io import load, save
from chainrule.train.loop import check_state

if TYPE_CHECKING:
    from chainrule.train.loop import Trainer

__all__ = ["load_training_state", "save_training_state"]


def save_training_state(trainer: Trainer, path: str | os.PathLike) -> None:
    """Write ``trainer.state_dict()`` to ``path`` with ``cr.save`` (atomically; parent
    directories are created).

    The file holds the number of completed epochs, the model's state dict, the
    optimizer's and scheduler's states, the data loaders' positions and seeds, the
    history, every callback's state and chainrule's RNG state
    (``chainrule.backend.get_rng_state()``) -- no pickle, so loading it cannot run code.
    ``fit(..., resume_from=path)`` continues from it. Inside ``fit`` use the
    :class:`~chainrule.train.TrainingCheckpoint` callback, which calls this.
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    save(trainer.state_dict(), path)


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_training_state` and check that it is one.

    Raises ``CheckpointError`` for a missing, truncated or tampered file and
    ``TrainError`` for a chainrule file that is not a training state (e.g. a model's
    state dict).
    """
    state = load(path)
    check_state(state)
    return state

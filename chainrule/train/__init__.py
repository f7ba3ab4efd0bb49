"""Training models: ``cr.train.fit``, callbacks, resumable runs and random search.

::

    history = cr.train.fit(
        model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-3),
        (X_train, y_train), val_data=(X_val, y_val), epochs=20,
        callbacks=[cr.train.EarlyStopping(patience=3, restore_best_weights=True)],
    )
    history["val_accuracy"]                 # one value per epoch

A run is a :class:`Trainer`; callbacks (:class:`Callback` and the built-in ones) hook into
it. :class:`TrainingCheckpoint` (or :func:`save_training_state`) writes the whole state of
a run, and ``fit(..., resume_from=path)`` continues it bit for bit. :func:`random_search`
samples hyper-parameters from :func:`loguniform`, :func:`uniform` and :func:`choice`
spaces.
"""

from chainrule.train.callbacks import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    TerminateOnNaN,
    TrainingCheckpoint,
)
from chainrule.train.history import History
from chainrule.train.loop import DEFAULT_METRICS, Trainer, evaluate, fit
from chainrule.train.metrics import Metric, TrainError, accuracy, mae, mse
from chainrule.train.search import Trial, choice, loguniform, random_search, uniform
from chainrule.train.state import load_training_state, save_training_state

__all__ = [
    "DEFAULT_METRICS",
    "Callback",
    "EarlyStopping",
    "History",
    "Metric",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "TrainError",
    "Trainer",
    "TrainingCheckpoint",
    "Trial",
    "accuracy",
    "choice",
    "evaluate",
    "fit",
    "load_training_state",
    "loguniform",
    "mae",
    "mse",
    "random_search",
    "save_training_state",
    "uniform",
]

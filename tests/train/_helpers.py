"""Small models and data shared by the training tests."""

from __future__ import annotations

import itertools

import numpy as np

import chainrule as cr
from chainrule import nn


def mlp(sizes: tuple[int, ...], dropout: float = 0.0, act: type = nn.ReLU) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``act`` (and Dropout) between them."""
    layers: list = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def blobs(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 4-D (float32 X, int64 y)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = rng.normal(size=(3, 4)) * 3
    X = centres[y] + rng.normal(size=(n, 4))
    return X.astype(np.float32), y.astype(np.int64)


def params(model: nn.Module) -> dict[str, np.ndarray]:
    """Copies of the model's parameters and buffers."""
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def setup(seed: int = 0, dropout: float = 0.2, lr: float = 0.01) -> tuple:
    """A seeded (model, loss, optimizer, scheduler) for the blobs."""
    cr.manual_seed(seed)
    model = mlp((4, 16, 3), dropout=dropout)
    opt = cr.optim.Adam(model.parameters(), lr=lr)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    return model, nn.CrossEntropyLoss(), opt, sched

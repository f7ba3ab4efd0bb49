"""Optimisers, learning-rate schedules and an L1 penalty (gradient clipping is in
``cr.nn.utils``, PyTorch's home for it).

``cr.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``,
``NAdam``, ``RAdam``, ``Rprop``, ``ASGD``, ``Adafactor`` and ``LBFGS`` compute what
``torch.optim`` computes (same formulas, same order of float32 operations), updating ``p.data``
in place without building a graph (``LBFGS.step(closure)`` needs a closure that re-evaluates
the loss)::

    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y) + cr.optim.l1_penalty(model.parameters(), 1e-5)
            loss.backward()
            cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
        sched.step()

``cr.optim.swa_utils`` averages weights (``AveragedModel``, ``SWALR``, ``update_bn``).
"""

from chainrule.optim import lr_scheduler, swa_utils
from chainrule.optim.adadelta import Adadelta
from chainrule.optim.adafactor import Adafactor
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.adamax import Adamax
from chainrule.optim.asgd import ASGD
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from chainrule.optim.nadam import NAdam, RAdam
from chainrule.optim.optimizer import Optimizer, OptimizerError
from chainrule.optim.penalty import l1_penalty
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.rprop import Rprop
from chainrule.optim.sgd import SGD

__all__ = [
    "ASGD",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "LBFGS",
    "NAdam",
    "RAdam",
    "Rprop",
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "Optimizer",
    "OptimizerError",
    "PolynomialLR",
    "RMSprop",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "l1_penalty",
    "lr_scheduler",
    "swa_utils",
]

"""Diagnostics: look inside a network before (and while) training it (``cr.diagnostics``).

Two checks that catch most broken training set-ups before an hour is wasted on them:

* :func:`report` runs one forward and one backward pass on a batch and gives, for every
  leaf module in the order the forward pass reaches it, the statistics of its output
  (mean, standard deviation, fraction of dead units), the norm of its parameters'
  gradient and the update-to-parameter ratio ``lr * |grad| / |param|``, flagging what
  looks wrong (dead units, vanishing or exploding gradients, updates far too small or
  too large). ``print(rep)`` shows it as a table; ``rep.plot("hist.png")`` draws the
  histograms (needs matplotlib: ``pip install "chainrule[plot]"``).
* :func:`overfit_check` trains on one small batch: a model, loss and optimiser that
  work together drive the loss to (almost) zero; one that cannot memorise a handful of
  examples has a bug.

::

    rep = cr.diagnostics.report(model, xb, yb, nn.CrossEntropyLoss(), lr=0.01)
    print(rep)                     # one row per layer, flags on the right
    rep.plot("layers.png")
    res = cr.diagnostics.overfit_check(model, loss_fn, optimizer, xb[:16], yb[:16])
    assert res.passed, res

Both leave the model as they found it: its training/eval flags, its parameters' ``.grad``,
its buffers (BatchNorm running statistics), chainrule's random-number generator and each
module's recorded call (for the modular ``backward``). ``overfit_check`` also restores the
parameters and the optimiser state unless ``restore=False``.

What the flags mean (the defaults of :class:`Thresholds`; pass your own to change them):

``dead``
    more than half of the layer's units are dead (``dead_fraction > 0.5``). A *unit* is one
    element of the layer's output with the batch axis (axis 0) taken away -- a feature of a
    Linear layer, a pixel of a conv channel -- and it is *dead* when it is exactly zero for
    every example of the batch. For ReLU-like layers (outputs >= 0) that is "never
    positive": the unit passes no gradient back, so the weights feeding it never change.
``vanishing``
    the layer's gradient norm is below 1e-7, or its gradient is more than 100 times
    smaller than that of the *output layer* (the last layer with trainable parameters in
    forward order, the one nearest the loss), compared as root-mean-square gradients
    (``grad_norm / sqrt(number of parameters)``) so that big and small layers compare
    fairly. The output layer's gradient is what the loss hands back; a layer far below it
    is one the signal no longer reaches (saturated sigmoids, dead ReLUs, tiny weights).
``exploding``
    the gradient norm is not finite or above 1e4, or the layer's RMS gradient is more
    than 100 times that of the output layer (unnormalised inputs, huge weights).
``update_too_small`` / ``update_too_large``
    the update-to-parameter ratio ``lr * |grad| / |param|`` (norms over all of the
    layer's trainable parameters together, ``lr`` each parameter's learning rate) is below
    1e-5 or above 1e-1. About 1e-3 is the usual healthy value: each step changes the
    weights by a thousandth of their size. The ratio is that of a plain SGD step; adaptive
    optimisers (Adam) scale their steps per parameter, so read it as a guide there.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import engine
from chainrule.autograd.mode import enable_grad, no_grad
from chainrule.creation import tensor
from chainrule.errors import ChainruleError
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, to_array, wrap

__all__ = [
    "FLAGS",
    "DiagnosticsError",
    "MissingDependencyError",
    "OverfitResult",
    "Report",
    "Thresholds",
    "overfit_check",
    "report",
]

#: every flag :func:`report` may raise
FLAGS = ("dead", "vanishing", "exploding", "update_too_small", "update_too_large")
_HIST_SAMPLES = 100_000  # values kept per layer for the histograms


class DiagnosticsError(ChainruleError, ValueError):
    """A bad argument to a diagnostic (not a Module, a loss that is not a scalar...)."""


class MissingDependencyError(ChainruleError, ImportError):
    """An optional dependency (matplotlib for plots) is not installed."""


@dataclass(frozen=True)
class Thresholds:
    """When :func:`report` raises a flag (see the module docstring for the definitions).

    Attributes:
        dead: flag "dead" when ``dead_fraction`` is above this.
        vanishing_abs: flag "vanishing" when the gradient norm is below this.
        vanishing_ratio: ... or when its RMS gradient is below this times the output
            layer's (the last one with trainable parameters).
        exploding_abs: flag "exploding" when the gradient norm is above this (or not
            finite).
        exploding_ratio: ... or when its RMS gradient is above this times the output
            layer's.
        update_small: flag "update_too_small" when the update ratio is below this.
        update_large: flag "update_too_large" when the update ratio is above this.
    """

    dead: float = 0.5
    vanishing_abs: float = 1e-7
    vanishing_ratio: float = 1e-2
    exploding_abs: float = 1e4
    exploding_ratio: float = 1e2
    update_small: float = 1e-5
    update_large: float = 1e-1


# ---------------------------------------------------------------------------------------
# report


@dataclass
class Report:
    """What :func:`report` found, one row per leaf module in forward order.

    Attributes:
        rows: one dict per layer with the keys ``layer`` (its qualified name, as in
            ``named_modules``), ``act_mean``, ``act_std``, ``dead_fraction`` (floats; None
            for a layer whose output is not a floating Tensor), ``grad_norm`` and
            ``update_ratio`` (floats; None for a layer without trainable parameters) and
            ``flags`` (a list drawn from "dead", "vanishing", "exploding",
            "update_too_small", "update_too_large").
        loss: the loss on the batch.
        lr: the learning rate the update ratios were computed with (None when it came
            from an optimiser whose groups have different rates).
        module_types: the class name of each row's module (same order as ``rows``).
        thresholds: the thresholds the flags were raised with.
        activations: per layer name, the layer's output values (a random sample of at
            most 100,000), for :meth:`plot`.
        gradients: per layer name, its parameters' gradient values (sampled likewise).
    """

    rows: list[dict[str, Any]]
    loss: float
    lr: float | None
    module_types: list[str]
    thresholds: Thresholds = field(default_factory=Thresholds)
    activations: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    gradients: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        """The rows that have at least one flag."""
        return [r for r in self.rows if r["flags"]]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, layer: int | str) -> dict[str, Any]:
        """A row by position or by layer name."""
        if isinstance(layer, str):
            for r in self.rows:
                if r["layer"] == layer:
                    return r
            raise KeyError(f"no layer named {layer!r} in the report")
        return self.rows[layer]

    def __str__(self) -> str:
        header = ["layer", "module", "act_mean", "act_std", "dead", "grad_norm", "update_ratio"]
        header.append("flags")
        table = [header]
        for r, kind in zip(self.rows, self.module_types):
            table.append(
                [
                    r["layer"],
                    kind,
                    _fmt(r["act_mean"], "{:.4g}"),
                    _fmt(r["act_std"], "{:.4g}"),
                    _fmt(r["dead_fraction"], "{:.1%}"),
                    _fmt(r["grad_norm"], "{:.3e}"),
                    _fmt(r["update_ratio"], "{:.3e}"),
                    ", ".join(r["flags"]),
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        numeric = {2, 3, 4, 5, 6}

        def line(row: list[str]) -> str:
            cells = [
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            ]
            return "  ".join(cells).rstrip()

        out = [line(table[0]), "  ".join("-" * w for w in widths)]
        out += [line(row) for row in table[1:]]
        lr = "per-group" if self.lr is None else f"{self.lr:g}"
        n = len(self.flagged)
        out.append(f"loss {self.loss:.6g}, lr {lr}; {n} of {len(self.rows)} layers flagged")
        return "\n".join(out)

    def plot(self, path: str, bins: int = 50) -> str:
        """Write a PNG with, for every layer, the histogram of its activations (left) and
        of its parameters' gradients (right); returns ``path``.

        Needs matplotlib (``pip install "chainrule[plot]"``); without it raises
        :class:`MissingDependencyError`. Uses matplotlib's Agg canvas directly, so it
        works without a display and leaves pyplot's state alone.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise MissingDependencyError(
                "Report.plot needs matplotlib, which is not installed: "
                'pip install "chainrule[plot]" (or pip install matplotlib)'
            ) from exc
        n = max(len(self.rows), 1)
        fig = Figure(figsize=(11, 1.9 * n + 0.8))
        FigureCanvasAgg(fig)
        axes = fig.subplots(n, 2, squeeze=False)
        for i, (r, kind) in enumerate(zip(self.rows, self.module_types)):
            name = r["layer"]
            left, right = axes[i]
            acts = self.activations.get(name)
            if acts is not None and acts.size:
                left.hist(acts, bins=bins, color="tab:blue")
                dead = r["dead_fraction"]
                note = "" if dead is None else f", {dead:.0%} dead"
                left.set_title(f"{name} ({kind}) activations{note}", fontsize=9)
            else:
                left.set_title(f"{name} ({kind}): no floating output", fontsize=9)
                left.set_axis_off()
            grads = self.gradients.get(name)
            if grads is not None and grads.size:
                right.hist(grads, bins=bins, color="tab:orange")
                flags = f" [{', '.join(r['flags'])}]" if r["flags"] else ""
                right.set_title(f"{name} gradients, norm {r['grad_norm']:.2e}{flags}", fontsize=9)
            else:
                right.set_title(f"{name}: no trainable parameters", fontsize=9)
                right.set_axis_off()
            for ax in (left, right):
                ax.tick_params(labelsize=7)
        fig.suptitle(f"loss {self.loss:.4g}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=90)
        return path


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def _first_float(out: Any) -> Tensor | None:
    """The first floating Tensor of a module output (``LSTM`` gives ``(out, (h, c))``)."""
    if isinstance(out, Tensor):
        return out if out.dtype.kind == "f" else None
    if isinstance(out, tuple | list):
        for o in out:
            t = _first_float(o)
            if t is not None:
                return t
    return None


def _host(a: Any) -> np.ndarray:
    return np.asarray(backend.to_device(to_array(a), "cpu"))


def _sample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    values = values.ravel()
    if values.size > _HIST_SAMPLES:
        values = rng.choice(values, _HIST_SAMPLES, replace=False)
    return values.astype(np.float64)


def _is_reported(m: Module) -> bool:
    """Leaves, and containers that own parameters directly (MultiheadAttention)."""
    has_children = any(c is not None for c in m._modules.values())
    return not has_children or any(p is not None for p in m._parameters.values())


def _row_parameters(order: list[Module], names: dict[int, str]) -> dict[int, list]:
    """Each parameter goes to the deepest reported module that holds it and ran: a leaf
    gets all of its own; a container that owns parameters (MultiheadAttention) gets those
    and any of children that were not called as modules (its ``out_proj``)."""
    owner: dict[int, tuple[int, Module]] = {}
    params: dict[int, Any] = {}
    for m in order:
        depth = names.get(id(m), "").count(".") + bool(names.get(id(m)))
        for p in m.parameters():
            if id(p) not in owner or owner[id(p)][0] < depth:
                owner[id(p)] = (depth, m)
                params[id(p)] = p
    out: dict[int, list] = {id(m): [] for m in order}
    for pid, (_, m) in owner.items():
        out[id(m)].append(params[pid])
    return out


def _learning_rates(lr: Any) -> tuple[float | None, dict[int, float]]:
    """``lr`` as a number, or an optimiser's per-parameter rates."""
    if hasattr(lr, "param_groups"):
        per: dict[int, float] = {}
        for group in lr.param_groups:
            for p in group["params"]:
                per[id(p)] = float(group["lr"])
        rates = {float(g["lr"]) for g in lr.param_groups}
        return (rates.pop() if len(rates) == 1 else None), per
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.number) or not lr >= 0:
        raise DiagnosticsError(f"lr must be a number >= 0 or an optimiser, got {lr!r}")
    return float(lr), {}


@dataclass
class _Snapshot:
    """Everything about a model that running a batch through it may change."""

    training: dict[int, bool]
    calls: dict[int, tuple[Any, Any]]
    buffers: list[tuple[Tensor, np.ndarray]]
    rng: dict

    @classmethod
    def take(cls, model: Module) -> _Snapshot:
        mods = list(model.modules())
        buffers = [(b, b.data.copy()) for b in model.buffers()]
        return cls(
            training={id(m): m.training for m in mods},
            calls={id(m): (m.__dict__["_last_call"], m.__dict__["_out_shape"]) for m in mods},
            buffers=buffers,
            rng=copy.deepcopy(backend.get_rng_state()),
        )

    def restore_modes(self, model: Module) -> None:
        """Put back the training flags and recorded calls only."""
        for m in model.modules():
            d = m.__dict__
            d["training"] = self.training.get(id(m), d["training"])
            if id(m) in self.calls:
                d["_last_call"], d["_out_shape"] = self.calls[id(m)]

    def restore(self, model: Module) -> None:
        """Put back everything: flags, recorded calls, buffers, the generator."""
        self.restore_modes(model)
        for b, data in self.buffers:
            if b.data.shape == data.shape:
                b.data[...] = data
            else:
                b.data = data
        backend.set_rng_state(self.rng)


def _as_batch(v: Any, device: str) -> Any:
    """An array or a (nested) list as a Tensor on ``device`` (a Tensor moved there, as
    ``fit`` moves its batches); anything else as it is."""
    if backend.is_array(v):
        v = wrap(v)
    elif isinstance(v, list):
        v = tensor(v)
    if isinstance(v, Tensor) and v.device != device:
        v = v.to(device)
    return v


def _as_inputs(x: Any, device: str) -> tuple:
    """The model's positional inputs: one batch, or a tuple of them (several inputs)."""
    if isinstance(x, tuple):
        return tuple(_as_batch(v, device) for v in x)
    return (_as_batch(x, device),)


def _device_of(model: Module) -> str:
    p = next(iter(model.parameters()), None)
    return "cpu" if p is None else p.device


def _loss_value(loss: Any, who: str) -> Tensor:
    if not isinstance(loss, Tensor) or loss.size != 1:
        shape = getattr(loss, "shape", None)
        raise DiagnosticsError(
            f"{who}: loss_fn(model(x), y) must return a one-element Tensor, got "
            f"{type(loss).__name__}" + (f" of shape {shape}" if shape is not None else "")
        )
    return loss


def report(
    model: Module,
    x: Any,
    y: Any,
    loss_fn: Callable[[Any, Any], Tensor],
    lr: float | Any = 0.01,
    *,
    train: bool = True,
    thresholds: Thresholds | None = None,
) -> Report:
    """Per-layer activation and gradient statistics of ``model`` on one batch.

    Runs ``loss = loss_fn(model(x), y)`` once and one backward pass from ``loss``, and
    returns a :class:`Report` with one row per leaf module in the order the forward pass
    first calls it (a module that owns parameters besides its children, such as
    MultiheadAttention, gets a row too, covering its own parameters and those of children
    it uses without calling them; modules the forward pass never calls get none). A
    module called several times (a layer shared between branches, a cell run at every
    time step) pools all its calls: the mean and deviation are over every output, and each
    call's units count separately in ``dead_fraction``.

    Args:
        model: the network.
        x: the input batch (a Tensor, an array or a nested list; a tuple of them is passed
            as several positional inputs).
        y: the targets, given to ``loss_fn`` as the second argument (an array becomes a
            Tensor).
        loss_fn: ``loss_fn(output, y)`` -> a one-element Tensor (a loss module or a
            function).
        lr: the learning rate for the update ratios, or an optimiser (then each
            parameter's group rate is used).
        train: run the batch in training mode (the default: what a training step sees,
            Dropout active, BatchNorm on batch statistics) or, if False, in eval mode.
        thresholds: when to raise flags (:class:`Thresholds` by default).

    Returns:
        A :class:`Report`; ``report.rows[i]`` has the keys ``layer, act_mean, act_std,
        dead_fraction, grad_norm, update_ratio, flags``.

    Gradients are captured from the backward pass directly, so the parameters' ``.grad``
    (and the inputs') are not touched; the model's training flags, buffers, recorded
    calls and chainrule's random generator are restored afterwards.
    """
    if not isinstance(model, Module):
        raise DiagnosticsError(f"report needs an nn.Module, got {type(model).__name__}")
    th = Thresholds() if thresholds is None else thresholds
    lr_value, per_param_lr = _learning_rates(lr)
    names = {id(m): name for name, m in model.named_modules()}
    targets = {id(m): m for m in model.modules() if _is_reported(m)}
    order: list[Module] = []
    outputs: dict[int, list[np.ndarray]] = {}

    def pre(m: Module, args: tuple) -> None:
        if id(m) not in outputs:
            outputs[id(m)] = []
            order.append(m)

    def post(m: Module, args: tuple, out: Any) -> None:
        t = _first_float(out)
        if t is not None:
            outputs[id(m)].append(_host(t.data))

    snap = _Snapshot.take(model)
    handles = []
    try:
        for m in targets.values():
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
        model.train(train)
        with enable_grad():
            device = _device_of(model)
            out = model(*_as_inputs(x, device))
            loss = _loss_value(loss_fn(out, _as_batch(y, device)), "report")
        params = [p for p in model.parameters() if p.requires_grad]
        grads: list[Any] = [None] * len(params)
        if params and loss.requires_grad:
            grads = engine.backward([loss], [None], inputs=params)
        loss_value = float(_host(loss.data).reshape(()))
    finally:
        for h in handles:
            h.remove()
        snap.restore(model)
    grad_of = {id(p): (None if g is None else _host(g)) for p, g in zip(params, grads)}

    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []
    acts_for_plot: dict[str, np.ndarray] = {}
    grads_for_plot: dict[str, np.ndarray] = {}
    sizes: list[int] = []  # trainable scalars of each row
    row_params = _row_parameters(order, names)
    for m in order:
        name = names.get(id(m)) or m._get_name()
        row: dict[str, Any] = {"layer": name}
        arrays = outputs[id(m)]
        if arrays:
            flat = np.concatenate([a.ravel().astype(np.float64) for a in arrays])
            with np.errstate(over="ignore", invalid="ignore"):
                row["act_mean"] = float(flat.mean()) if flat.size else None
                row["act_std"] = float(flat.std()) if flat.size else None
            row["dead_fraction"] = _dead_fraction(arrays)
            acts_for_plot[name] = _sample(flat[np.isfinite(flat)], rng)
        else:
            row["act_mean"] = row["act_std"] = row["dead_fraction"] = None
        trainable = [p for p in row_params[id(m)] if p.requires_grad]
        sizes.append(sum(int(p.size) for p in trainable))
        if trainable:
            g_sq = p_sq = u_sq = 0.0
            pieces = []
            for p in trainable:
                g = grad_of.get(id(p))
                g = np.zeros(p.shape) if g is None else g.astype(np.float64)
                gn = float(np.vdot(g.ravel(), g.ravel()))
                g_sq += gn
                p_arr = _host(p.data).astype(np.float64).ravel()
                p_sq += float(np.vdot(p_arr, p_arr))
                u_sq += gn * per_param_lr.get(id(p), lr_value or 0.0) ** 2
                pieces.append(g.ravel())
            row["grad_norm"] = math.sqrt(g_sq)
            update = math.sqrt(u_sq)
            if p_sq > 0:
                row["update_ratio"] = update / math.sqrt(p_sq)
            else:
                row["update_ratio"] = math.inf if update > 0 else 0.0
            grads_for_plot[name] = _sample(np.concatenate(pieces), rng)
        else:
            row["grad_norm"] = row["update_ratio"] = None
        row["flags"] = []
        rows.append(row)
        kinds.append(m._get_name())
    _raise_flags(rows, sizes, th)
    return Report(rows, loss_value, lr_value, kinds, th, acts_for_plot, grads_for_plot)


def _dead_fraction(arrays: Sequence[np.ndarray]) -> float | None:
    """Fraction of units (output elements without the batch axis) that are exactly zero
    for every example, over all calls."""
    dead = total = 0
    for a in arrays:
        if a.ndim == 0 or a.size == 0:
            continue
        per_unit = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
        alive = (per_unit != 0).any(axis=0)
        dead += int((~alive).sum())
        total += alive.size
    return dead / total if total else None


def _raise_flags(rows: list[dict[str, Any]], sizes: list[int], th: Thresholds) -> None:
    def rms(i: int) -> float:
        return rows[i]["grad_norm"] / math.sqrt(max(sizes[i], 1))

    with_grads = [i for i, r in enumerate(rows) if r["grad_norm"] is not None]
    ref = None  # the output layer's RMS gradient, when it is a usable reference
    if len(with_grads) >= 2:
        last = rms(with_grads[-1])
        ref = last if math.isfinite(last) and last > 0 else None
    for i, r in enumerate(rows):
        flags = r["flags"]
        if r["dead_fraction"] is not None and r["dead_fraction"] > th.dead:
            flags.append("dead")
        g = r["grad_norm"]
        if g is not None:
            rel = None if ref is None or i == with_grads[-1] else rms(i) / ref
            if math.isfinite(g) and (
                g < th.vanishing_abs or (rel is not None and rel < th.vanishing_ratio)
            ):
                flags.append("vanishing")
            elif (
                not math.isfinite(g)
                or g > th.exploding_abs
                or (rel is not None and rel > th.exploding_ratio)
            ):
                flags.append("exploding")
        u = r["update_ratio"]
        if u is not None:
            if u < th.update_small:
                flags.append("update_too_small")
            elif not u <= th.update_large:  # NaN counts as too large
                flags.append("update_too_large")


# ---------------------------------------------------------------------------------------
# overfit_check


@dataclass
class OverfitResult:
    """What :func:`overfit_check` saw.

    Attributes:
        passed: the final loss is below 1% of the first, or below 1e-2.
        losses: the loss before each step (``steps`` values, fewer if it became NaN/Inf).
        first_loss, final_loss: ``losses[0]`` and ``losses[-1]``.
    """

    passed: bool
    losses: list[float]

    @property
    def first_loss(self) -> float:
        return self.losses[0]

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"overfit check {verdict}: loss {self.first_loss:.4g} -> {self.final_loss:.4g} "
            f"in {len(self.losses)} steps (needs < 1% of the first loss or < 1e-2)"
        )


def overfit_check(
    model: Module,
    loss_fn: Callable[[Any, Any], Tensor],
    optimizer: Any,
    x: Any,
    y: Any,
    steps: int = 200,
    *,
    restore: bool = True,
) -> OverfitResult:
    """Can ``model`` memorise one small batch? Train on ``(x, y)`` alone for ``steps``.

    ``x`` and ``y`` are taken as by :func:`report` (a tuple ``x`` is several inputs).
    Each step: ``optimizer.zero_grad()``, ``loss = loss_fn(model(x), y)``,
    ``loss.backward()``, ``optimizer.step()``, in training mode. A working model, loss and
    optimiser drive the loss on a handful of examples to almost nothing; the check
    ``passed`` when the final loss is below 1% of the first or below 1e-2. A loss that
    becomes NaN or infinite stops the run and fails it.

    With ``restore=True`` (the default) the parameters, buffers, optimiser state and
    chainrule's random generator are put back afterwards, so the check can run before
    real training without changing it; ``restore=False`` keeps the trained weights (and
    the optimiser's state). Either way the model is left in the training/eval mode it was
    in and its parameters' ``.grad`` are what they were.
    """
    if not isinstance(model, Module):
        raise DiagnosticsError(f"overfit_check needs an nn.Module, got {type(model).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise DiagnosticsError(f"overfit_check: steps must be a positive int, got {steps!r}")
    params = list(model.parameters())
    saved_grads = [p.grad for p in params]
    snap = _Snapshot.take(model)
    saved_params = [(p, p.data.copy()) for p in params] if restore else []
    saved_opt = optimizer.state_dict() if restore else None
    device = _device_of(model)
    inputs, target = _as_inputs(x, device), _as_batch(y, device)
    losses: list[float] = []
    try:
        model.train()
        for _ in range(steps):
            optimizer.zero_grad()
            with enable_grad():
                loss = _loss_value(loss_fn(model(*inputs), target), "overfit_check")
            value = float(_host(loss.data).reshape(()))
            losses.append(value)
            if not math.isfinite(value):
                break
            if loss.requires_grad:
                loss.backward()
            optimizer.step()
    finally:
        if restore:
            with no_grad():
                for p, data in saved_params:
                    p.data[...] = data
                    p._version[0] += 1
            optimizer.load_state_dict(saved_opt)
            snap.restore(model)
        else:
            snap.restore_modes(model)
        for p, g in zip(params, saved_grads):
            p.grad = g
    first, final = losses[0], losses[-1]
    passed = math.isfinite(final) and (final < 0.01 * first or final < 1e-2)
    return OverfitResult(bool(passed), losses)

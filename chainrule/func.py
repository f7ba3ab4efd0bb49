"""``cr.func``: function transforms that take functions and return functions, with
``torch.func``'s (and JAX's) names, and ``functional_call`` to make a module a function of
its weights.

``grad``, ``vjp`` and ``jvp`` are chainrule's own (:mod:`chainrule.autodiff.transforms`);
``jacrev``/``jacfwd`` return the Jacobian function in reverse or forward mode; ``hessian``
here returns the Hessian *function* (``torch.func.hessian(f, argnums)``; ``cr.hessian(f,
x)`` evaluates one at ``x``). ``vmap`` (:mod:`chainrule.autodiff.vmap`) maps a function
over a dimension of its inputs by calling it once per index and stacking the results with
differentiable ops, so it composes with the other transforms (``vmap(grad(f))`` gives
per-example gradients); chainrule's ops take batched arrays directly where speed matters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chainrule.autodiff.transforms import grad, jacfwd, jacrev, jvp, vjp
from chainrule.autodiff.vmap import vmap
from chainrule.nn.utils.stateless import functional_call

__all__ = ["functional_call", "grad", "hessian", "jacfwd", "jacrev", "jvp", "vjp", "vmap"]


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian function of a scalar ``f`` in ``args[argnums]``: ``jacrev`` of ``jacrev``
    (reverse over reverse), shaped ``x.shape * 2``."""
    return jacrev(jacrev(f, argnums), argnums)

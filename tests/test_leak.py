"""Graph-leak test: training steps must not leave graph nodes behind."""

import gc

import numpy as np

import chainrule as cr
from chainrule.autograd import Node


def live_nodes() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Node)


def live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cr.Tensor)


def make_problem():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(32, 2)).astype(np.float32)
    y = (np.sin(x[:, :1]) * np.cos(x[:, 1:])).astype(np.float32)

    def param(*shape):
        fan_in = shape[0]
        w = rng.standard_normal(shape).astype(np.float32) / np.sqrt(fan_in)
        return cr.tensor(w, requires_grad=True)

    params = []
    for fan_in, fan_out in ((2, 16), (16, 16), (16, 1)):
        params += [param(fan_in, fan_out), cr.zeros(fan_out, requires_grad=True)]
    return cr.tensor(x), cr.tensor(y), params


def step(x, y, params, lr):
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).tanh()
    h = (h @ w2 + b2).tanh()
    out = h @ w3 + b3
    loss = ((out - y) ** 2).mean()
    loss.backward()
    with cr.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def test_no_graph_nodes_leak_over_1000_steps():
    x, y, params = make_problem()
    base = live_nodes()
    losses = []
    counts = {}
    tensors = {}
    for i in range(1, 1001):
        loss = step(x, y, params, lr=0.1)
        losses.append(loss.item())
        if i in (100, 1000):
            counts[i] = live_nodes()
            tensors[i] = live_tensors()
    # the only graph alive between steps is the one behind the last `loss`
    assert counts[1000] <= counts[100], counts
    assert counts[1000] <= 20, counts  # one step's worth of nodes at most
    assert tensors[1000] <= tensors[100], tensors
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10]), (losses[:10], losses[-10:])
    del loss
    assert live_nodes() == base


def test_nodes_are_freed_when_graph_is_dropped():
    base = live_nodes()
    x = cr.tensor(np.ones(4), requires_grad=True)
    y = ((x * 2).exp() + x).sum()
    assert live_nodes() >= base + 4
    del y
    assert live_nodes() == base


def test_nodes_freed_after_backward_and_drop():
    base = live_nodes()
    x = cr.tensor(np.ones(4), requires_grad=True)
    for _ in range(50):
        y = (x.tanh() * x).sum()
        y.backward()
    del y
    assert live_nodes() == base
    assert x.grad is not None and x.grad._node is None  # .grad keeps no graph alive

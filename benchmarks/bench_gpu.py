"""GPU benchmark: chainrule on ``device="cuda"`` (CuPy) beside PyTorch eager on CUDA.

The issues' workloads, float32, one train step = forward + backward + SGD update, both
libraries built with the same layers (``nn`` modules, ``CrossEntropyLoss``, ``optim.SGD``):

* ``MLP 784-256-256-10 b128`` and ``LeNet b64`` and ``LSTM 64->128 T32 b32`` -- the CPU
  benchmarks' workloads (small: a GPU step is bound by kernel launches and Python);
* ``MLP 784-4096-4096-10 b1024`` -- a wide MLP, where the GEMMs dominate;
* ``CNN 3->64->128 3x3 on 32x32 b128`` -- a conv net big enough for the GPU to matter.

Each repeat ends with a device synchronise, so the time counts the kernels, not just their
launch. Prints ms per step for both and the ratio torch ms / chainrule ms (> 1: chainrule
faster). Needs CuPy and torch with CUDA; exits with a message otherwise.

Usage: ``python benchmarks/bench_gpu.py [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("chainrule") is None:  # run from a checkout without installing
    sys.path.insert(0, _REPO)

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402

LR = 0.01


def _models(torch: Any) -> dict[str, tuple[Callable, Callable, tuple, int]]:
    """name -> (chainrule builder, torch builder, input shape, classes)."""
    tnn = torch.nn

    def mlp(lib: Any, sizes: tuple) -> Any:
        layers: list = []
        for a, b in itertools.pairwise(sizes):
            layers += [lib.Linear(a, b), lib.ReLU()]
        return lib.Sequential(*layers[:-1])

    def lenet(lib: Any) -> Any:
        return lib.Sequential(
            lib.Conv2d(1, 8, 5), lib.ReLU(), lib.MaxPool2d(2),
            lib.Conv2d(8, 16, 5), lib.ReLU(), lib.MaxPool2d(2),
            lib.Flatten(), lib.Linear(256, 10),
        )  # fmt: skip

    def convnet(lib: Any) -> Any:
        return lib.Sequential(
            lib.Conv2d(3, 64, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
            lib.Conv2d(64, 128, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
            lib.Flatten(), lib.Linear(128 * 8 * 8, 10),
        )  # fmt: skip

    small, wide = (784, 256, 256, 10), (784, 4096, 4096, 10)
    return {
        "MLP 784-256-256-10 b128":
            (lambda: mlp(nn, small), lambda: mlp(tnn, small), (128, 784), 10),
        "MLP 784-4096-4096-10 b1024":
            (lambda: mlp(nn, wide), lambda: mlp(tnn, wide), (1024, 784), 10),
        "LeNet b64": (lambda: lenet(nn), lambda: lenet(tnn), (64, 1, 28, 28), 10),
        "CNN 3-64-128 32x32 b128":
            (lambda: convnet(nn), lambda: convnet(tnn), (128, 3, 32, 32), 10),
        "LSTM 64->128 T32 b32": ("lstm", "lstm", (32, 32, 64), 128),
    }  # fmt: skip


def _sgd_step(loss_fn: Callable[[], Any], opt: Any) -> Callable[[], Any]:
    """One training step (either library: the same calls): loss, zero_grad, backward, step."""

    def step() -> Any:
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def _cr_step(build: Any, shape: tuple, classes: int) -> Callable[[], Any]:
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.random(shape, dtype=np.float32), device="cuda")
    if build == "lstm":
        m = nn.LSTM(shape[-1], classes).cuda()
        loss_fn = lambda: m(x)[0][-1].mean()  # noqa: E731
    else:
        m = build().cuda()
        y = cr.tensor(rng.integers(0, classes, shape[0]), device="cuda")
        ce = nn.CrossEntropyLoss()
        loss_fn = lambda: ce(m(x), y)  # noqa: E731
    return _sgd_step(loss_fn, cr.optim.SGD(m.parameters(), lr=LR))


def _torch_step(torch: Any, build: Any, shape: tuple, classes: int) -> Callable[[], Any]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.random(shape, dtype=np.float32), device="cuda")
    if build == "lstm":
        m = torch.nn.LSTM(shape[-1], classes).cuda()
        loss_fn = lambda: m(x)[0][-1].mean()  # noqa: E731
    else:
        m = build().cuda()
        y = torch.tensor(rng.integers(0, classes, shape[0]), device="cuda")
        ce = torch.nn.CrossEntropyLoss()
        loss_fn = lambda: ce(m(x), y)  # noqa: E731
    return _sgd_step(loss_fn, torch.optim.SGD(m.parameters(), lr=LR))


def _time(step: Callable, sync: Callable, n_iter: int, repeats: int, warmup: int) -> float:
    """Median ms per step over ``repeats`` runs of ``n_iter`` steps, each ended by a sync."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_iter):
            step()
        sync()
        times.append((time.perf_counter() - t0) / n_iter * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    try:
        import cupy
        import torch

        assert cupy.cuda.runtime.getDeviceCount() > 0 and torch.cuda.is_available()
    except Exception as exc:  # any failure means: no GPU here
        print(f"bench_gpu: needs CuPy and torch with a CUDA device ({exc!r})")
        return 1
    n_iter, repeats, warmup = (10, 3, 5) if args.quick else (30, 7, 10)
    print(f"GPU: {torch.cuda.get_device_name()}  CuPy {cupy.__version__}  torch "
          f"{torch.__version__}  NumPy {np.__version__}")  # fmt: skip
    print(f"{'workload':30s} {'chainrule ms':>13s} {'torch ms':>9s} {'ratio':>6s}")
    for name, (cr_build, t_build, shape, classes) in _models(torch).items():
        try:
            cr_ms = _time(_cr_step(cr_build, shape, classes),
                          cupy.cuda.Device().synchronize, n_iter, repeats, warmup)  # fmt: skip
            t_ms = _time(_torch_step(torch, t_build, shape, classes),
                         torch.cuda.synchronize, n_iter, repeats, warmup)  # fmt: skip
        except Exception:  # report it and go on to the next workload
            print(f"{name:30s} FAILED")
            traceback.print_exc()
            continue
        print(f"{name:30s} {cr_ms:13.3f} {t_ms:9.3f} {t_ms / cr_ms:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

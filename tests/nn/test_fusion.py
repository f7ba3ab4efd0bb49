"""Folding eval-mode BatchNorm into the layer before it (nn.utils.fusion)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import fuse_conv_bn_eval, fuse_linear_bn_eval


def _trained_bn(bn: nn.Module, shape: tuple, seed: int) -> nn.Module:
    """A BatchNorm with non-trivial affine parameters and running statistics, in eval."""
    rng = np.random.default_rng(seed)
    bn.train()
    for _ in range(3):
        bn(cr.tensor(rng.standard_normal(shape) * 2 + 1))
    with cr.no_grad():
        bn.weight.data[...] = rng.uniform(0.5, 2, bn.weight.shape)
        bn.bias.data[...] = rng.standard_normal(bn.bias.shape)
    return bn.eval()


@pytest.mark.parametrize("bias", [True, False])
def test_fused_layers_compute_what_the_pairs_compute(bias: bool) -> None:
    cr.manual_seed(0)
    rng = np.random.default_rng(1)
    x4 = cr.tensor(rng.standard_normal((2, 3, 6, 6)))
    cases = [
        (nn.Conv2d(3, 4, 3, bias=bias).double().eval(), nn.BatchNorm2d(4).double(), (5, 4, 4, 4),
         x4, False),
        (nn.ConvTranspose2d(3, 4, 3, stride=2, bias=bias).double().eval(),
         nn.BatchNorm2d(4).double(), (5, 4, 4, 4), x4, True),
        (nn.Conv1d(3, 4, 3, bias=bias).double().eval(), nn.BatchNorm1d(4).double(), (5, 4, 7),
         cr.tensor(rng.standard_normal((2, 3, 8))), False),
    ]  # fmt: skip
    for conv, bn, bn_shape, x, transpose in cases:
        bn = _trained_bn(bn, bn_shape, 2)
        fused = fuse_conv_bn_eval(conv, bn, transpose=transpose)
        np.testing.assert_allclose(fused(x).numpy(), bn(conv(x)).numpy(), rtol=1e-10, atol=1e-12)
        assert fused is not conv and conv.weight is not fused.weight  # a new module
        assert fused.bias.requires_grad == bias
    lin = nn.Linear(5, 4, bias=bias).double().eval()
    bn = _trained_bn(nn.BatchNorm1d(4).double(), (6, 4), 3)
    x = cr.tensor(rng.standard_normal((3, 5)))
    fused = fuse_linear_bn_eval(lin, bn)
    np.testing.assert_allclose(fused(x).numpy(), bn(lin(x)).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_fused_weights_match_torch() -> None:
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    conv, bn = nn.Conv2d(2, 3, 3).double().eval(), _trained_bn(nn.BatchNorm2d(3).double(),
                                                               (4, 3, 2, 2), 5)  # fmt: skip
    tconv, tbn = torch.nn.Conv2d(2, 3, 3).double().eval(), torch.nn.BatchNorm2d(3).double().eval()
    for ours_m, theirs_m in ((conv, tconv), (bn, tbn)):
        state = {k: torch.from_numpy(np.array(v.numpy() if isinstance(v, cr.Tensor) else v))
                 for k, v in ours_m.state_dict().items()}  # fmt: skip
        theirs_m.load_state_dict(state)
    ours = fuse_conv_bn_eval(conv, bn)
    theirs = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.bias.numpy(), theirs.bias.detach().numpy(), rtol=1e-12)


def test_fusion_refuses_training_mode_and_mismatched_sizes() -> None:
    conv, bn = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)
    with pytest.raises(nn.ModuleError, match=r"eval mode only.*training=True"):
        fuse_conv_bn_eval(conv, bn)
    with pytest.raises(nn.ModuleError, match="BatchNorm2d has 5 features, but Conv2d has 3"):
        fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(5).eval())
    with pytest.raises(nn.ModuleError, match="no running statistics"):
        fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(3, track_running_stats=False).eval())

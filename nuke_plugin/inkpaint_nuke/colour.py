"""Scene-linear <-> sRGB for the worker: Nuke works in scene-linear, the networks see
display-referred sRGB in [0, 1].

With an OCIO config (the script's) and PyOpenColorIO importable, the conversion is the
config's own working space -> sRGB processor, so ACEScg or any other working space comes out
as it does in Nuke's viewer-independent sRGB. Otherwise it is the IEC 61966-2-1 sRGB transfer,
which is exact for Nuke's legacy colour management and the nuke-default config (linear sRGB /
Rec.709 primaries). Alpha never goes through a colour transform; straight and premultiplied
alpha are handled by ``unpremultiply`` / ``premultiply``.
"""

import numpy as np

from . import _core


def srgb_encode(linear):
    """IEC 61966-2-1 encoding (the engine's own: negatives clip to 0, values above 1 follow
    the power curve, so HDR values round-trip)."""
    return _core.module("imageio").linear_to_srgb(linear)


def srgb_decode(encoded):
    """IEC 61966-2-1 decoding, the inverse of ``srgb_encode``."""
    return _core.module("imageio").srgb_to_linear(encoded)


def unpremultiply(rgb, alpha):
    """Straight colour from premultiplied (Nuke's convention); colour where alpha is 0 is
    kept as stored."""
    a = np.asarray(alpha, dtype=np.float32)[..., None]
    safe = np.where(a > 0, a, np.float32(1))
    return np.where(a > 0, rgb / safe, rgb).astype(np.float32)


def premultiply(rgb, alpha):
    return (np.asarray(rgb, dtype=np.float32)
            * np.asarray(alpha, dtype=np.float32)[..., None]).astype(np.float32)


class ColourTransform:
    """Working space <-> sRGB, through OCIO when configured and available."""

    def __init__(self, config=None, working="scene_linear", srgb=("sRGB",), ocio=None):
        self.description = "sRGB transfer"
        self.warning = None
        self._to_srgb = self._to_linear = None
        if not config:
            return
        if ocio is None:
            try:
                import PyOpenColorIO as ocio
            except ImportError:
                self.warning = ("PyOpenColorIO is not installed in the worker's Python, so the "
                                f"sRGB transfer was used instead of OCIO config {config}")
                return
        cfg = _load_config(ocio, config)
        names = set(cfg.getColorSpaceNames())
        roles = set(name for name, _ in _roles(cfg))
        target = next((n for n in srgb if n in names or n in roles), None)
        if target is None:
            raise ValueError(f"OCIO config {config} has none of the sRGB colour spaces "
                             f"{', '.join(srgb)}: set the node's sRGB colour space knob")
        self._to_srgb = cfg.getProcessor(working, target).getDefaultCPUProcessor()
        self._to_linear = cfg.getProcessor(target, working).getDefaultCPUProcessor()
        self.description = f"OCIO {working} -> {target} ({config})"

    @classmethod
    def from_spec(cls, spec):
        spec = spec or {}
        return cls(spec.get("config"), spec.get("working") or "scene_linear",
                   tuple(spec.get("srgb") or ("sRGB",)))

    def to_srgb(self, rgb):
        """HxWx3 working-space colour -> sRGB-encoded (not clipped)."""
        if self._to_srgb is None:
            return srgb_encode(rgb)
        return _apply(self._to_srgb, rgb)

    def to_linear(self, rgb):
        """HxWx3 sRGB-encoded colour -> working space."""
        if self._to_linear is None:
            return srgb_decode(rgb)
        return _apply(self._to_linear, rgb)


def _load_config(ocio, config):
    if str(config).startswith("ocio://"):
        return ocio.Config.CreateFromBuiltinConfig(str(config)[len("ocio://"):])
    return ocio.Config.CreateFromFile(str(config))


def _roles(cfg):
    try:
        return list(cfg.getRoles())
    except AttributeError:  # OCIO 1
        return [(cfg.getRoleName(i), None) for i in range(cfg.getNumRoles())]


def _apply(processor, rgb):
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    processor.applyRGB(out)
    return out

"""Scene-linear <-> sRGB in the Nuke adapter: the transfer round trip, alpha handling, and
the OCIO path (through a stand-in PyOpenColorIO, as none is installed here)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from core.imageio import linear_to_srgb, srgb_to_linear
from tests.fake_nuke import PLUGIN

sys.path.insert(0, str(PLUGIN))

from inkpaint_nuke.colour import (  # noqa: E402
    ColourTransform,
    premultiply,
    srgb_decode,
    srgb_encode,
    unpremultiply,
)


def _ramp():
    # dark values around the linear segment, mid tones, 1.0 and HDR highlights
    v = np.concatenate([np.linspace(0, 0.01, 101), np.linspace(0.01, 1, 500),
                        np.linspace(1, 16, 50)]).astype(np.float32)
    return np.stack([v, v[::-1], np.roll(v, 7)], axis=1).reshape(1, -1, 3)


def test_linear_srgb_linear_round_trip_within_1e_4():
    lin = _ramp()
    back = ColourTransform().to_linear(ColourTransform().to_srgb(lin))
    assert np.abs(back - lin).max() <= 1e-4
    rel = np.abs(back - lin) / np.maximum(lin, 1e-3)
    assert rel.max() <= 1e-5  # and relatively tight for HDR values too


def test_srgb_linear_srgb_round_trip_and_known_values():
    s = np.linspace(0, 1, 1001, dtype=np.float32).reshape(1, -1, 1).repeat(3, 2)
    assert np.abs(srgb_encode(srgb_decode(s)) - s).max() <= 1e-5
    assert srgb_encode(np.array([0.18], np.float32))[0] == pytest.approx(0.4613561, abs=1e-6)
    assert srgb_decode(np.array([0.5], np.float32))[0] == pytest.approx(0.2140411, abs=1e-6)


def test_the_transfer_is_the_engines_own():
    lin = _ramp()
    assert np.array_equal(srgb_encode(lin), linear_to_srgb(lin))
    assert np.array_equal(srgb_decode(lin), srgb_to_linear(lin))


def test_premultiplied_alpha_round_trip_keeps_colour_under_zero_alpha():
    rgb = np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)
    alpha = np.array([0.0, 0.25, 0.5, 1.0, 1.0] * 4, np.float32).reshape(4, 5)
    pre = premultiply(rgb, alpha)
    back = unpremultiply(pre, alpha)
    on = alpha > 0
    assert np.abs(back[on] - rgb[on]).max() <= 1e-6
    assert np.array_equal(back[~on], pre[~on])  # nothing to divide: kept as stored


class _Processor:
    def __init__(self, fn, log):
        self.fn, self.log = fn, log

    def getDefaultCPUProcessor(self):  # noqa: N802 (OCIO's names)
        return self

    def applyRGB(self, data):  # noqa: N802
        self.log.append(data.shape)
        data[...] = self.fn(data)


def _fake_ocio(spaces, roles=()):
    """A stand-in for PyOpenColorIO whose sRGB is the IEC transfer of a linear space."""
    log = {"opened": [], "processors": [], "applied": []}

    class Config:
        @staticmethod
        def CreateFromFile(path):  # noqa: N802
            log["opened"].append(path)
            return Config()

        @staticmethod
        def CreateFromBuiltinConfig(name):  # noqa: N802
            log["opened"].append("builtin:" + name)
            return Config()

        def getColorSpaceNames(self):  # noqa: N802
            return list(spaces)

        def getRoles(self):  # noqa: N802
            return list(roles)

        def getProcessor(self, src, dst):  # noqa: N802
            log["processors"].append((src, dst))
            fn = srgb_encode if dst != "ACEScg" else srgb_decode
            return _Processor(fn, log["applied"])

    return types.SimpleNamespace(Config=Config), log


def test_ocio_picks_the_first_srgb_space_the_config_has_and_round_trips():
    ocio, log = _fake_ocio(["ACEScg", "Utility - sRGB - Texture", "Output - Rec.709"])
    t = ColourTransform("/cfg/aces.ocio", "ACEScg", ("sRGB", "sRGB - Texture",
                                                      "Utility - sRGB - Texture"), ocio=ocio)
    assert log["opened"] == ["/cfg/aces.ocio"]
    assert ("ACEScg", "Utility - sRGB - Texture") in log["processors"]
    assert ("Utility - sRGB - Texture", "ACEScg") in log["processors"]
    assert "OCIO ACEScg -> Utility - sRGB - Texture" in t.description
    lin = _ramp()
    assert np.abs(t.to_linear(t.to_srgb(lin)) - lin).max() <= 1e-4
    assert log["applied"]  # went through the processors, not the built-in transfer


def test_ocio_roles_and_builtin_configs():
    ocio, log = _fake_ocio(["lin_rec709", "srgb_tx"], roles=[("matte_paint", "srgb_tx")])
    ColourTransform("ocio://cg-config-v2.1.0", "scene_linear", ("sRGB", "matte_paint"),
                    ocio=ocio)
    assert log["opened"] == ["builtin:cg-config-v2.1.0"]
    assert ("scene_linear", "matte_paint") in log["processors"]
    with pytest.raises(ValueError, match="none of the sRGB colour spaces"):
        ColourTransform("/x.ocio", "scene_linear", ("sRGB",), ocio=_fake_ocio(["ACEScg"])[0])


def test_without_pyopencolorio_the_transfer_is_used_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "PyOpenColorIO", None)  # import fails
    t = ColourTransform("/cfg/aces.ocio", "ACEScg", ("sRGB",))
    assert t.description == "sRGB transfer"
    assert "PyOpenColorIO is not installed" in t.warning
    spec = ColourTransform.from_spec({"config": None, "working": "linear", "srgb": ["sRGB"]})
    assert spec.warning is None and spec.description == "sRGB transfer"

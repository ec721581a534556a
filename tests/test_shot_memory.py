"""Shot memory on the demo shot (examples/shot: a clip-art bear with shading over a painted
background, 1024 x 1024): a region tracked from one in-between to the next keeps its fill
unless the evidence without the memory changed its mind too."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.compose.decide import COLOUR_FEATURES, colour_features, shipped_weights
from core.engine.colorizer import Colorizer
from core.engine.plan import Reference
from core.frames import FrameSequence
from core.motion import guide, motion

SHOT = Path(__file__).resolve().parents[1] / "examples" / "shot"
FRAMES = range(1002, 1008)  # six in-betweens: the test's cost bounded, the memory chained


def _tracked(seg_a, seg_b, labels_warped: np.ndarray) -> dict[int, int]:
    """Region of frame b -> the region of frame a most of its pixels come from (via flow)."""
    out = {}
    lab = seg_b.labels
    for r in range(1, seg_b.n + 1):
        src = labels_warped[lab == r]
        src = src[src > 0]
        if len(src) >= 64:  # big enough to call it the same region
            vals, cnt = np.unique(src, return_counts=True)
            if cnt.max() >= 0.8 * len(src):
                out[r] = int(vals[np.argmax(cnt)])
    return out


@pytest.mark.slow  # six 1024 x 1024 frames through the product path
def test_tracked_regions_keep_their_fill_unless_the_evidence_changed() -> None:
    seq = FrameSequence(str(SHOT / "lineart"))
    refs = [Reference(SHOT / "ref.1001.png", 1001), Reference(SHOT / "ref.1024.png", 1024)]
    col = Colorizer("lite")
    col.keep_evidence = True
    frames = {cf.frame: cf for cf in col.colorize({f: seq.path(f) for f in seq.frames}, refs,
                                                  FRAMES)}
    w = shipped_weights()
    memory = COLOUR_FEATURES.index("track")
    without = w.colour.copy()
    without[memory] = 0.0  # the decision's colour scores with the memory left out
    checked = changed = 0
    for a, b in zip(FRAMES, FRAMES[1:]):
        seg_a, ev_a, pal = frames[a].detail
        seg_b, ev_b, pal_b = frames[b].detail
        assert np.array_equal(pal, pal_b)  # one palette for the shot
        ga, gb = guide(seg_a.labels == 0), guide(seg_b.labels == 0)
        m = motion(gb, ga)
        h, wd = seg_b.shape
        flow = cv2.resize(m.flow, (wd, h)) * (wd / m.flow.shape[1])
        gx, gy = np.meshgrid(np.arange(wd, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(seg_a.labels.astype(np.float32), gx + flow[..., 0],
                           gy + flow[..., 1], cv2.INTER_NEAREST).astype(np.int32)
        x_a = colour_features(ev_a.shares, ev_a.keep, ev_a.thin)
        fill_a = np.argmax(np.einsum("rfp,f->rp", x_a, w.colour), 1)
        x_b = colour_features(ev_b.shares, ev_b.keep, ev_b.thin)
        fill_b = np.argmax(np.einsum("rfp,f->rp", x_b, w.colour), 1)
        evid_a = np.argmax(np.einsum("rfp,f->rp", x_a, without), 1)
        evid_b = np.argmax(np.einsum("rfp,f->rp", x_b, without), 1)
        for rb, ra in _tracked(seg_a, seg_b, warped).items():
            checked += 1
            if fill_b[rb] != fill_a[ra]:
                changed += 1
                assert evid_b[rb] != evid_a[ra], (a, b, ra, rb)
    assert checked >= 5 * 20  # the bear and the background, tracked through five pairs
    assert changed <= 0.05 * checked

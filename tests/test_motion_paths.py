"""Key flows started from the chain of neighbour flows (core.motion.paths): a part that moves
farther than its width between an in-between and its key is found in the key, its pixels
are brought along, and the flows do not depend on what the cache held before."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import core.motion.paths as paths_module
from core.motion import Guide, Paths, guide, motion, warp, warp_key
from core.preprocess import line_art

STEP = 12  # px per frame: each step is small, the 6-step total (72 px) is 3 part widths
FRAMES = 7


def _frame(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Line mask and colour of frame ``i``: a shaded bar (a leg: no flat fill) moving right
    by ``STEP`` per frame beside a box that stays put."""
    x = 30 + STEP * i
    lines = np.full((128, 192), 255, np.uint8)
    cv2.rectangle(lines, (x, 20), (x + 22, 110), 0, 2, cv2.LINE_AA)
    cv2.rectangle(lines, (160, 20), (185, 110), 0, 2, cv2.LINE_AA)
    colour = np.full((128, 192, 3), 255, np.uint8)
    shade = np.linspace(40, 160, 87).astype(np.uint8)[:, None]
    colour[22:109, x + 2:x + 21] = np.stack([shade, shade // 2, 200 - shade], 2)
    mask = line_art(lines[..., None].astype(np.float32) / 255)[1]
    return mask, colour


@pytest.fixture(scope="module")
def shot() -> tuple[list[Guide], list[np.ndarray]]:
    frames = [_frame(i) for i in range(FRAMES)]
    return [guide(m) for m, _ in frames], [c for _, c in frames]


def _paths(guides: list[Guide], missing: int | None = None) -> Paths:
    return Paths(lambda f: guides[f] if 0 <= f < len(guides) and f != missing else None)


def test_a_key_flow_started_from_the_chain_brings_the_moved_part_along(shot) -> None:
    """Frame 6 against key 0: the bar moved 72 px, three widths. The direct flow matches it
    to the nearest lines in the key and brings the paper; started from the chain it finds
    the bar, passes the check there, and the warped key shows the bar's own shading."""
    g, colour = shot
    inside = (slice(30, 100), slice(30 + 6 * STEP + 5, 30 + 6 * STEP + 18))
    truth = colour[6][inside].astype(int)
    p = _paths(g)
    for chained, right in ((True, True), (False, False)):
        m = p.motion(6, 0, g[6], g[0], chained)
        if right:
            np.testing.assert_allclose(m.flow[inside].mean(axis=(0, 1)), (-6 * STEP, 0),
                                       atol=1.0)
        key = warp_key(g[6], g[0], colour[0], 1.0, m)
        off = np.abs(key.rgb[inside].astype(int) - truth).max(2)
        assert (np.median(off) <= 6) == right, (chained, np.median(off))
        assert (key.valid[inside].mean() > 0.9) == right, key.valid[inside].mean()


def test_a_chain_is_the_same_whatever_the_cache_held(shot, monkeypatch) -> None:
    """A farm chunk or a --frames range starts with an empty cache, and one with a small
    cache recomputes what it dropped: the flows must be the ones a full run gets."""
    g, _ = shot
    full = _paths(g)
    runs = {t: [full.motion(t, k, g[t], g[k]) for k in (0, FRAMES - 1)]
            for t in range(1, FRAMES - 1)}
    monkeypatch.setattr(paths_module, "HELD", 3)
    for t in (3, 4, 1):
        chunk = _paths(g)
        for k, want in zip((0, FRAMES - 1), runs[t]):
            got = chunk.motion(t, k, g[t], g[k])
            assert np.array_equal(got.flow, want.flow) and np.array_equal(got.valid,
                                                                          want.valid)
        assert len(chunk.held) <= 3


def test_a_missing_frame_between_leaves_the_direct_flow(shot) -> None:
    g, _ = shot
    lost = _paths(g, missing=3).motion(6, 0, g[6], g[0])
    direct = _paths(g).motion(6, 0, g[6], g[0], chained=False)
    assert np.array_equal(lost.flow, direct.flow)


def test_chains_add_up_the_neighbour_steps(shot) -> None:
    """Towards a key and from it, the chain is the neighbour flows composed: the bar's
    pixels in frame 6 are 72 px left in frame 0, and frame 0's 72 px right in frame 6."""

    g, _ = shot
    p = _paths(g)
    bar6 = (slice(30, 100), slice(30 + 6 * STEP + 5, 30 + 6 * STEP + 18))
    bar0 = (slice(30, 100), slice(35, 48))
    np.testing.assert_allclose(p.toward(6, 0)[bar6].mean(axis=(0, 1)), (-6 * STEP, 0),
                               atol=1.0)
    # along the bar nothing tells one row from the next (the aperture problem): each step
    # may slide a little, which the direct flow started from the chain corrects
    assert abs(p.away(0, 6)[bar0][..., 0].mean() - 6 * STEP) < 1.0
    # the first step of a chain is the neighbour flow itself
    assert np.array_equal(p.toward(1, 0), p.step(1, 0))
    assert np.array_equal(warp(p.toward(1, 0), np.zeros_like(p.step(1, 0))), p.step(1, 0))


def test_the_neighbour_steps_are_the_flows_of_the_preset_at_1080p() -> None:
    """The shot memory's flow to the frame before is the chains' neighbour step (one pair of
    flows per frame, not two). At 1080p and up the guides are 512 px, where the step's finer
    level is the MEDIUM preset's own: the memory's motion is exactly what it was."""
    def big(dx: int) -> Guide:
        lines = np.full((288, 512), 255, np.uint8)
        cv2.circle(lines, (200 + dx, 144), 60, 0, 4, cv2.LINE_AA)
        cv2.rectangle(lines, (400, 40), (480, 250), 0, 4, cv2.LINE_AA)
        return guide(line_art(lines[..., None].astype(np.float32) / 255)[1])

    g = [big(0), big(9)]
    p = _paths(g)
    shared, own = p.neighbour(1, 0), motion(g[1], g[0])
    assert np.array_equal(shared.flow, own.flow) and np.array_equal(shared.valid, own.valid)
    assert p.neighbour(1, 1) is None and _paths(g, missing=0).neighbour(1, 0) is None


def test_a_segment_walks_to_its_keys_once(shot, monkeypatch) -> None:
    """Held for the gap between its keys, every neighbour step of a segment is computed once
    (both ways), whichever in-between asks first: with a cache smaller than the gap needs,
    each later frame walked to the key again."""
    g, _ = shot
    steps = []
    real = paths_module.flow

    def counted(a, b, init=None, fine=False):
        if init is None:
            steps.append(1)
        return real(a, b, init, fine)

    monkeypatch.setattr(paths_module, "flow", counted)
    monkeypatch.setattr(paths_module, "HELD", 0)
    p = Paths(lambda i: g[i] if 0 <= i < FRAMES else None, gap=FRAMES - 1)
    for t in range(1, FRAMES - 1):
        for k in (0, FRAMES - 1):
            p.motion(t, k, g[t], g[k])
    # the steps both ways, and the direct flows of the frames next to a key (no chain)
    assert len(steps) == 2 * (FRAMES - 1) + 2 * 2

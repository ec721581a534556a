"""Key flows started from the chain of neighbour flows (``core.motion.Paths.motion``): a
drawing that moves more than its own width between a key and an in-between is followed
through the frames between, and passes the forward-backward check, where the direct flow's
check fails."""

from __future__ import annotations

import cv2
import numpy as np

from core.motion import Guide, Paths, guide

STEP = 12  # px per frame: each step is small, the 6-step total (72 px) is 3 ring widths
FRAMES = 7


def _frame(dx: int) -> Guide:
    img = np.zeros((128, 192), np.float32)
    cv2.circle(img, (40 + dx, 64), 22, 1.0, 2, cv2.LINE_AA)
    cv2.line(img, (25 + dx, 64), (55 + dx, 64), 1.0, 2, cv2.LINE_AA)
    cv2.rectangle(img, (150, 20), (180, 110), 1.0, 2)  # a part that stays put
    return guide(img)


def _paths(g: list[Guide]) -> Paths:
    return Paths(lambda f: g[f] if 0 <= f < len(g) else None, gap=len(g) - 1)


def test_the_key_flow_from_the_chain_follows_a_large_move_the_direct_check_rejects() -> None:
    g = [_frame(STEP * i) for i in range(FRAMES)]
    inside = np.zeros((128, 192), np.uint8)
    cv2.circle(inside, (40 + 6 * STEP, 64), 18, 1, -1)
    inside = inside.astype(bool)
    direct = _paths(g).motion(6, 0, g[6], g[0], chained=False)
    chained = _paths(g).motion(6, 0, g[6], g[0])
    np.testing.assert_allclose(chained.flow[inside].mean(axis=0), (-6 * STEP, 0), atol=1.0)
    assert chained.valid[inside].mean() > 0.9
    assert chained.valid[inside].mean() > direct.valid[inside].mean() + 0.5
    still = np.zeros_like(inside)
    still[30:100, 155:175] = True
    assert np.abs(chained.flow[still]).mean() < 0.5


def test_next_to_the_key_there_is_no_chain_to_start_from() -> None:
    g = [_frame(STEP * i) for i in range(FRAMES)]
    m, d = _paths(g).motion(1, 0, g[1], g[0]), _paths(g).motion(1, 0, g[1], g[0], chained=False)
    assert np.array_equal(m.flow, d.flow) and np.array_equal(m.valid, d.valid)

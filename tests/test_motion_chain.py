"""Flow chained through the frames between (core.motion.flow.motion(a, b, via)): a drawing
that moves more than its own width between the two ends is followed step by step and passes
the forward-backward check, where the direct flow's check fails."""

from __future__ import annotations

import cv2
import numpy as np

from core.motion import Guide, guide, motion

STEP = 12  # px per frame: each step is small, the 6-step total (72 px) is 3 ring widths


def _frame(dx: int) -> Guide:
    img = np.zeros((128, 192), np.float32)
    cv2.circle(img, (40 + dx, 64), 22, 1.0, 2, cv2.LINE_AA)
    cv2.line(img, (25 + dx, 64), (55 + dx, 64), 1.0, 2, cv2.LINE_AA)
    cv2.rectangle(img, (150, 20), (180, 110), 1.0, 2)  # a part that stays put
    return guide(img)


def test_chained_motion_follows_a_large_move_the_direct_check_rejects() -> None:
    g = [_frame(STEP * i) for i in range(7)]
    inside = np.zeros((128, 192), np.uint8)
    cv2.circle(inside, (40 + 6 * STEP, 64), 18, 1, -1)
    inside = inside.astype(bool)
    direct = motion(g[6], g[0])
    chained = motion(g[6], g[0], via=g[5:0:-1])
    np.testing.assert_allclose(chained.flow[inside].mean(axis=0), (-6 * STEP, 0), atol=1.0)
    assert chained.valid[inside].mean() > 0.9
    assert chained.valid[inside].mean() > direct.valid[inside].mean() + 0.5
    still = np.zeros_like(inside)
    still[30:100, 155:175] = True
    assert np.abs(chained.flow[still]).mean() < 0.5


def test_no_frames_between_is_the_direct_motion() -> None:
    a, b = _frame(0), _frame(STEP)
    m, d = motion(a, b, via=()), motion(a, b)
    assert np.array_equal(m.flow, d.flow) and np.array_equal(m.valid, d.valid)

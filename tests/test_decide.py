"""The composition's region decision (core/compose/decide.py) and its fitting
(core/eval/fit_decision.py)."""

from __future__ import annotations

import cv2
import numpy as np

from core.compose import decide as decision
from core.compose.decide import (
    EVIDENCE,
    KEEP_FEATURES,
    Evidence,
    decide,
    shipped_weights,
    thinness,
)
from core.compose.segment import segment
from core.eval.fit_decision import fit, score


def _sample(rng: np.random.Generator, p: int, truth: int, reliable: str
            ) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Evidence where ``reliable`` votes for the truth and every other row votes at random."""
    shares = np.zeros((len(EVIDENCE), p))
    for e, name in enumerate(EVIDENCE):
        shares[e, truth if name == reliable else rng.integers(p)] = rng.uniform(0.6, 1.0)
    keep = np.zeros(len(KEEP_FEATURES))
    keep[0] = 1.0
    return shares, keep, 1.0, truth


def test_fit_learns_which_evidence_to_trust() -> None:
    rng = np.random.default_rng(0)
    data = [_sample(rng, 5, int(rng.integers(5)), "match") for _ in range(400)]
    w, stats = fit(data, shipped_weights(), steps=400)
    m, others = EVIDENCE.index("match"), [i for i, e in enumerate(EVIDENCE) if e != "match"]
    assert w.colour[m] > 2 * max(w.colour[others])
    assert stats["accuracy"] > 0.95
    # and the shipped weights, which trust the warped keys most, do worse on this data
    assert score(data, shipped_weights())["accuracy"] < stats["accuracy"]


def test_decision_follows_agreeing_evidence_and_is_unsure_when_it_splits() -> None:
    p = 4
    shares = np.zeros((3, len(EVIDENCE), p))
    shares[1, :, 2] = 0.9  # region 1: every row says colour 2
    shares[2, EVIDENCE.index("warp"), 1] = 0.5  # region 2: the warp and the matcher disagree
    shares[2, EVIDENCE.index("match"), 3] = 0.5
    keep = np.zeros((3, len(KEEP_FEATURES)))
    keep[:, 0] = 1.0
    chosen, conf = decide(Evidence(shares, keep, np.ones(3)))
    assert chosen[1] == 2 and conf[1] > 0.9
    assert conf[2] < conf[1]


def test_keys_that_are_not_one_fill_are_kept_as_painted() -> None:
    """A region whose warped keys are off the palette (shading, a painted background)
    takes the keys' own pixels (the KEEP candidate, index P)."""
    p = 3
    shares = np.zeros((2, len(EVIDENCE), p))
    keep = np.zeros((2, len(KEEP_FEATURES)))
    keep[:, 0] = 1.0
    keep[1, KEEP_FEATURES.index("warp_off")] = 1.0
    keep[1, KEEP_FEATURES.index("match_off")] = 1.0
    chosen, _ = decide(Evidence(shares, keep, np.ones(2)))
    assert chosen[1] == p


def test_a_thin_region_nothing_sees_takes_the_warps_few_valid_pixels() -> None:
    """A limb piece that moved far: no valid warp, no track, no close counterpart. The few
    barely valid warped pixels (a share of 0.01) show colour 1 and the network votes 2: the
    warp's opinion decides, and it is unsure. The same opinion counts for nothing in a
    region a close counterpart shows in colour 3, nor where the warp shows paint off the
    palette (a painted background: the keys' own pixels), and little in a deep region
    (an occluder that moved far: its few valid pixels are on its rim, showing what is
    around it), which keeps the keys' pixels."""
    p = 4
    shares = np.zeros((5, len(EVIDENCE), p))
    keep = np.zeros((5, len(KEEP_FEATURES)))
    keep[:, 0] = 1.0
    thin = np.array([1.0, 1.0, 1.0, 1.0, 0.05])
    w, n = EVIDENCE.index("warp"), EVIDENCE.index("net")
    shares[1:, w, 1] = 0.01
    shares[1:, n, 2] = 1.0
    shares[2, EVIDENCE.index("match"), 3] = 0.9
    keep[3, KEEP_FEATURES.index("warp_off")] = 0.6
    term = np.array(decision.COLOUR_FEATURES) == "warp_unseen"
    unseen = decision.colour_features(shares, keep, thin)[:, term][:, 0]
    assert unseen[1, 1] > 0.95 and unseen[2].max() < 0.15 and unseen[3].max() < 0.05
    assert unseen[4, 1] < 0.05
    chosen, conf = decide(Evidence(shares, keep, thin))
    assert chosen[1] == 1 and conf[1] < 0.9
    assert chosen[2] == 3
    assert chosen[3] == p
    assert chosen[4] == p
    # without the unseen term the decision falls back on its KEEP prior for region 1, and the
    # warped keys' pixels there are whatever the flow dragged in
    before = shipped_weights()
    without = decision.Weights(np.where(term, 0.0, before.colour), before.keep)
    assert decide(Evidence(shares, keep, thin), without)[0][1] == p


def test_thinness_is_one_for_a_limb_and_small_deep_inside_a_large_region() -> None:
    """A bar 8 px wide and a 120 px square drawn with 2 px lines, on the segmentation the
    composition uses."""
    ink = np.zeros((160, 160), np.float32)
    cv2.rectangle(ink, (10, 10), (130, 130), 1.0, 2)
    cv2.rectangle(ink, (140, 10), (150, 130), 1.0, 2)
    seg = segment(ink)
    t = thinness(seg, np.arange(ink.size))
    bar, square = seg.labels[70, 145], seg.labels[70, 70]
    assert bar > 0 and square > 0 and bar != square
    assert t[bar] > 0.5 and t[square] < 0.1

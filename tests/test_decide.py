"""The composition's region decision (core/compose/decide.py) and its fitting
(core/eval/fit_decision.py)."""

from __future__ import annotations

import numpy as np

from core.compose.decide import EVIDENCE, KEEP_FEATURES, Evidence, decide, shipped_weights
from core.eval.fit_decision import fit, score


def _sample(rng: np.random.Generator, p: int, truth: int, reliable: str
            ) -> tuple[np.ndarray, np.ndarray, int]:
    """Evidence where ``reliable`` votes for the truth and every other row votes at random."""
    shares = np.zeros((len(EVIDENCE), p))
    for e, name in enumerate(EVIDENCE):
        shares[e, truth if name == reliable else rng.integers(p)] = rng.uniform(0.6, 1.0)
    keep = np.zeros(len(KEEP_FEATURES))
    keep[0] = 1.0
    return shares, keep, truth


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
    chosen, conf = decide(Evidence(shares, keep))
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
    chosen, _ = decide(Evidence(shares, keep))
    assert chosen[1] == p

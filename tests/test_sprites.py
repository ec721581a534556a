import importlib.util

import numpy as np
import pytest

from core.errors import InkpaintError

# find_spec, not importorskip: arcade is installed with --no-deps and must never be imported.
requires_arcade = pytest.mark.skipif(
    importlib.util.find_spec("arcade") is None,
    reason="the arcade wheel is not installed: pip install --no-deps arcade",
)


@requires_arcade
def test_sprite_set_is_six_walk_cycles_with_line_art():
    from core.eval.sprites import sprite_clips

    shots = sprite_clips(size=128)
    assert len(shots) == 6
    for shot in shots:
        assert shot.color.shape == (8, 128, 128, 3) and shot.color.dtype == np.uint8
        assert shot.lines.shape == (8, 128, 128) and shot.lines.dtype == np.uint8
        for color, lines in zip(shot.color, shot.lines):
            ink = (lines < 128).mean()
            assert 0.003 < ink < 0.3  # real line art, not blank and not a black mess
            assert (color < 200).any(axis=2).mean() > 0.05  # a character on white paper
            assert (color[:, :8] == 255).all()  # letterboxed (96 x 128 sprites) onto white
        # a walk cycle moves: no two consecutive frames are the same drawing
        assert all((a != b).any() for a, b in zip(shot.color[:-1], shot.color[1:]))
        assert len(shot.palette) > 3


def test_missing_wheel_says_how_to_install(monkeypatch):
    import core.eval.sprites as sprites

    real = importlib.util.find_spec
    monkeypatch.setattr(sprites.importlib.util, "find_spec",
                        lambda name, *a: None if name == "arcade" else real(name, *a))
    with pytest.raises(InkpaintError, match="pip install --no-deps arcade"):
        sprites.sprite_clips()

"""The review contact sheet: ``contact_sheet`` on plain arrays, and ``inkpaint review`` on a
shot the real CLI coloured (frames, maps, scores and the flagged frames marked)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.compose.review import (
    BORDER,
    FLAG_COLOUR,
    KEY_COLOUR,
    LABEL_HEIGHT,
    contact_sheet,
    frames_below,
    read_scores,
    review_line,
)
from core.errors import InkpaintError
from tests import test_review_loop
from tests.test_cli import inkpaint
from tests.test_review_loop import KEYS, colorize

THUMB = 64
shot = test_review_loop.shot  # its shot: frame 1002 has a square no key has, so it is flagged


def _cell(sheet, i, columns, th):
    """The (label band, frame tile, map tile, whole cell) of cell ``i``."""
    cw, ch = THUMB + 2 * BORDER, LABEL_HEIGHT + 2 * th + 2 * BORDER
    y, x = (i // columns) * ch, (i % columns) * cw
    top = y + BORDER + LABEL_HEIGHT
    xs = slice(x + BORDER, x + BORDER + THUMB)
    return (sheet[y + BORDER:top, xs], sheet[top:top + th, xs], sheet[top + th:top + 2 * th, xs],
            sheet[y:y + ch, x:x + cw])


def test_contact_sheet_cells_frames_maps_and_marks():
    frames = [np.full((32, 64, 3), c, np.float32) for c in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    frames.append(np.full((32, 64, 3), (10, 200, 30), np.uint8))  # uint8 too
    maps = [np.full((32, 64), 0.25, np.float32), None, np.ones((32, 64), np.float32),
            np.zeros((32, 64), np.float32)]
    sheet = contact_sheet(frames, maps, [False, True, False, False],
                          ["1001 key", "1002 0.31", "1003", "1004"], [True, False, False, False],
                          columns=3, thumb=THUMB)
    th = 32  # the frames' aspect
    assert sheet.dtype == np.uint8 and sheet.shape == (
        2 * (LABEL_HEIGHT + 2 * th + 2 * BORDER), 3 * (THUMB + 2 * BORDER), 3)
    band, tile, conf, cell = _cell(sheet, 0, 3, th)
    assert (tile == (255, 0, 0)).all() and (conf == 64).all()  # 0.25 -> 64 (rounded)
    assert (band == KEY_COLOUR).mean() > 0.5 and (band == 255).all(axis=2).any()  # + text
    band, tile, conf, cell = _cell(sheet, 1, 3, th)
    assert (tile == (0, 255, 0)).all()
    assert (cell[:BORDER] == FLAG_COLOUR).all() and (cell[:, :BORDER] == FLAG_COLOUR).all()
    assert (conf == 96).mean() > 0.8  # no map: a grey tile that says so
    _, tile, conf, cell = _cell(sheet, 2, 3, th)
    assert (tile == (0, 0, 255)).all() and (conf == 255).all()
    assert not (cell[:BORDER] == FLAG_COLOUR).all()
    _, tile, conf, _ = _cell(sheet, 3, 3, th)
    assert (tile == (10, 200, 30)).all() and (conf == 0).all()
    with pytest.raises(InkpaintError, match="one confidence"):
        contact_sheet(frames, maps[:2], [False] * 4)


def test_review_command_writes_the_sheet_of_a_rendered_shot(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.png"
    r = colorize(shot, out, lite_weights, "--frames", "1001-1005")
    assert r.returncode == 0, r.stderr
    scores = read_scores(tmp_path / "c.confidence.json")
    below = 0.99
    low = frames_below(scores, below)
    assert 1002 in low and 1001 not in low
    sheet_path = tmp_path / "review" / "sheet.png"
    sheet_path.parent.mkdir()
    r = inkpaint("review", out, "--out", sheet_path, "--below", below, "--keys",
                 ",".join(map(str, KEYS)), "--columns", 5, "--thumb", THUMB)
    assert r.returncode == 0, r.stderr
    assert review_line(scores, below) in r.stdout
    assert f"contact sheet of 5 frames ({len(low)} flagged)" in r.stdout
    assert [p.name for p in sheet_path.parent.iterdir()] == ["sheet.png"]  # no temp left
    sheet = cv2.cvtColor(cv2.imread(str(sheet_path)), cv2.COLOR_BGR2RGB)
    th = THUMB  # the shot is square
    for i, f in enumerate(range(1001, 1006)):
        band, tile, conf, cell = _cell(sheet, i, 5, th)
        flagged = (cell[:BORDER] == FLAG_COLOUR).all()
        assert flagged == (f in low), f
        assert ((band == KEY_COLOUR).mean() > 0.5) == (f in KEYS and f not in low), f
        mp = cv2.imread(str(tmp_path / f"c.confidence.{f}.png"), cv2.IMREAD_UNCHANGED)
        assert np.abs(conf[..., 0].astype(int) - mp).max() <= 1  # its own map, same size
        frame = cv2.cvtColor(cv2.imread(str(tmp_path / f"c.{f}.png")), cv2.COLOR_BGR2RGB)
        assert np.abs(tile.astype(int) - frame).max() <= 1


@pytest.mark.parametrize("bad,words", [("sheet.jpg", "is a PNG"),
                                       ("c.1001.png", "one of the frames")])
def test_review_bad_out_is_one_error_line(tmp_path, shot, lite_weights, bad, words):
    out = tmp_path / "c.####.png"
    assert colorize(shot, out, lite_weights, "--frames", "1001-1002").returncode == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    data = (tmp_path / "c.1001.png").read_bytes()
    r = inkpaint("review", out, "--out", tmp_path / bad)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("inkpaint: error:") and words in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "c.1001.png").read_bytes() == data

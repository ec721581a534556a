"""Reference selection and temporal windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine.plan import Reference, plan_windows, select_refs, validate_refs
from core.errors import InkpaintError


def refs(*frames, sheets=0):
    out = [Reference(Path(f"c{f}.png"), f) for f in frames]
    out += [Reference(Path(f"sheet{i}.png"), None, Path(f"l{i}.png")) for i in range(sheets)]
    return out


def test_nearest_before_and_after_then_by_distance():
    r = refs(1, 10, 20, 40)
    assert [x.frame for x in select_refs(12, r, 2)] == [10, 20]
    assert [x.frame for x in select_refs(12, r, 1)] == [10]
    assert [x.frame for x in select_refs(18, r, 1)] == [20]
    assert [x.frame for x in select_refs(12, r, 3)] == [1, 10, 20]
    assert [x.frame for x in select_refs(35, r, 3)] == [10, 20, 40]
    assert [x.frame for x in select_refs(50, r, 2)] == [20, 40]  # after the last ref


def test_model_sheets_come_after_the_bracketing_refs():
    r = refs(1, 20, 40, sheets=1)
    chosen = select_refs(5, r, 3)
    assert [x.frame for x in chosen] == [1, 20, None]


def test_selection_does_not_depend_on_the_order_refs_are_given():
    r = refs(1, 10, 20, 40, sheets=2)
    for k in range(1, 6):
        assert select_refs(13, r, k) == select_refs(13, list(reversed(r)), k)


def test_windows_stay_inside_segments_and_bracket_with_refs():
    shot = list(range(1, 49))
    r = refs(1, 20, 48)
    ws = plan_windows(shot, r, window=8)
    targets = [f for w in ws for f in w.targets]
    assert targets == [f for f in shot if f not in (1, 20, 48)]
    for w in ws:
        assert len(w.targets) <= 6
        assert w.left.frame < min(w.targets) and max(w.targets) < w.right.frame
        assert w.frames[0] == w.left.frame and w.frames[-1] == w.right.frame


def test_windows_are_the_same_whatever_range_is_asked():
    shot = list(range(1, 100))
    r = refs(1, 37, 99)
    assert plan_windows(shot, r, 8) == plan_windows(list(reversed(shot)), list(reversed(r)), 8)


def test_validation_messages():
    with pytest.raises(InkpaintError, match="no reference"):
        validate_refs([], [1, 2, 3])
    with pytest.raises(InkpaintError, match="outside the shot"):
        validate_refs(refs(5), [1, 2, 3])
    with pytest.raises(InkpaintError, match="needs its own line art"):
        validate_refs([Reference(Path("s.png"), None)], [1, 2])
    with pytest.raises(InkpaintError, match="two references for frame 2"):
        validate_refs(refs(2, 2), [1, 2, 3])

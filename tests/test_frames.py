import os

import pytest

from core.errors import InkpaintError
from core.frames import (
    FrameSequence,
    OutputPattern,
    check_no_overwrite,
    format_frames,
    parse_frame_range,
)


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_hash_pattern_finds_frames_in_numeric_order(tmp_path):
    _touch(tmp_path, "a.0100.png", "a.0009.png", "a.0010.png", "a.10000.png")
    _touch(tmp_path, "a.009.png", "a.00010.png", "b.0001.png", "a.0011.jpg", "a.0012.png.bak")
    seq = FrameSequence(tmp_path / "a.####.png")
    assert seq.frames == [9, 10, 100, 10000]
    assert len(seq) == 4 and 10 in seq and 11 not in seq
    assert seq.path(10) == tmp_path / "a.0010.png"
    assert seq.path(10000) == tmp_path / "a.10000.png"
    assert seq.pattern == str(tmp_path / "a.####.png")
    assert list(seq) == seq.frames


def test_printf_patterns(tmp_path):
    _touch(tmp_path, "cut_0001.exr", "cut_0002.exr", "x9.png", "x10.png", "x100.png")
    assert FrameSequence(str(tmp_path / "cut_%04d.exr")).frames == [1, 2]
    unpadded = FrameSequence(tmp_path / "x%d.png")
    assert unpadded.frames == [9, 10, 100]
    assert unpadded.path(7) == tmp_path / "x7.png"
    assert FrameSequence(tmp_path / "x#.png").frames == [9, 10, 100]


def test_folder_picks_the_numbered_sequence(tmp_path):
    _touch(tmp_path, "shot.0010.png", "shot.0009.png", "shot.0100.png", "notes.txt", "cover.png")
    _touch(tmp_path, "thumb7.jpg")  # a single numbered stray is ignored
    _touch(tmp_path, "._shot.0009.png", "._shot.0010.png")  # macOS resource forks too
    seq = FrameSequence(tmp_path)
    assert seq.frames == [9, 10, 100]
    assert seq.path(11) == tmp_path / "shot.0011.png"
    assert (seq.prefix, seq.padding, seq.suffix) == ("shot.", 4, ".png")


def test_folder_with_unpadded_frames_and_digits_in_the_name(tmp_path):
    _touch(tmp_path, "v2_cut9.png", "v2_cut10.png", "v2_cut11.png")
    seq = FrameSequence(tmp_path)
    assert seq.frames == [9, 10, 11] and seq.path(12) == tmp_path / "v2_cut12.png"


def test_folder_mixing_two_sequences_is_an_error(tmp_path):
    _touch(tmp_path, "a.0001.png", "a.0002.png", "a.0003.png", "b.0001.png", "b.0002.png")
    with pytest.raises(InkpaintError, match=r"mixes several sequences \(a\.#\.png, b\.#\.png\)"):
        FrameSequence(tmp_path)


def test_folder_mixing_paddings_is_an_error(tmp_path):
    _touch(tmp_path, "a.1.png", "a.0002.png", "a.0003.png")
    with pytest.raises(InkpaintError, match="mix zero paddings"):
        FrameSequence(tmp_path)


def test_empty_folder_and_no_match_name_the_pattern(tmp_path):
    with pytest.raises(InkpaintError, match="no numbered image files in folder"):
        FrameSequence(tmp_path)
    _touch(tmp_path, "a.0001.png")
    with pytest.raises(InkpaintError, match=r"no files match .*b\.####\.png"):
        FrameSequence(tmp_path / "b.####.png")
    with pytest.raises(InkpaintError, match="does not exist"):
        FrameSequence(tmp_path / "nope" / "a.####.png")
    with pytest.raises(InkpaintError, match="neither a frame pattern nor a folder"):
        FrameSequence(tmp_path / "a.0001.png")


def test_missing_frames_are_listed_compactly(tmp_path):
    _touch(tmp_path, *[f"a.{f:04d}.png" for f in range(10, 22) if f not in (12, 13, 14, 20)])
    seq = FrameSequence(tmp_path / "a.####.png")
    assert seq.select(range(10, 12)) == [10, 11]
    assert seq.select() == seq.frames
    with pytest.raises(InkpaintError, match=r"frames 12-14, 20 are missing from .*a\.####\.png"):
        seq.select(range(10, 22))
    with pytest.raises(InkpaintError, match="frame 30 is missing"):
        seq.select([30])


def test_format_frames_summarises_long_lists():
    assert format_frames([5, 1, 2, 3]) == "1-3, 5"
    assert format_frames(range(0, 40, 2), limit=3) == "0, 2, 4, and 17 more runs"


def test_output_pattern_paths(tmp_path):
    assert OutputPattern(tmp_path / "out.####.png").path(7) == tmp_path / "out.0007.png"
    assert OutputPattern(str(tmp_path / "o_%03d.exr")).path(1001) == tmp_path / "o_1001.exr"
    _touch(tmp_path / "in", "cut_01.exr", "cut_02.exr")
    like = FrameSequence(tmp_path / "in")
    out = OutputPattern(tmp_path / "colour", like)
    assert out.path(2) == tmp_path / "colour" / "cut_02.png"
    assert out.folder == tmp_path / "colour"


def test_output_pattern_errors(tmp_path):
    with pytest.raises(InkpaintError, match="needs an input sequence"):
        OutputPattern(tmp_path / "colour")
    with pytest.raises(InkpaintError, match=r"has no frame number; use e\.g\. .*result\.####\.png"):
        OutputPattern(tmp_path / "result.png")


def test_overwrite_of_inputs_is_refused(tmp_path):
    _touch(tmp_path / "in", "a.0001.png", "a.0002.png")
    seq = FrameSequence(tmp_path / "in")
    inputs = [seq.path(f) for f in seq.frames]
    with pytest.raises(InkpaintError, match=r"a\.0001\.png is one of the input files"):
        check_no_overwrite(inputs, OutputPattern(tmp_path / "in", seq), seq.frames)
    sneaky = OutputPattern(str(tmp_path / "in" / ".." / "in" / "a.%04d.png"))
    with pytest.raises(InkpaintError, match="never overwrites its sources"):
        check_no_overwrite(inputs, sneaky, seq.frames)
    os.symlink(tmp_path / "in", tmp_path / "link")
    with pytest.raises(InkpaintError):
        check_no_overwrite(inputs, OutputPattern(tmp_path / "link", seq), [1])
    check_no_overwrite(inputs, OutputPattern(tmp_path / "out", seq), seq.frames)
    check_no_overwrite(inputs, OutputPattern(tmp_path / "in" / "c.####.png"), seq.frames)


@pytest.mark.parametrize(
    ("text", "expected"), [("1001-1048", range(1001, 1049)), ("7", range(7, 8)), (" 3 - 3 ", [3])]
)
def test_parse_frame_range(text, expected):
    assert list(parse_frame_range(text)) == list(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10-3", "bad frame range '10-3': the start must not be after the end"),
        ("", "bad frame range ''"),
        ("a-b", "write START-END"),
        ("-5", "write START-END"),
        ("1-2-3", "write START-END"),
    ],
)
def test_parse_frame_range_errors(text, message):
    with pytest.raises(InkpaintError, match=message):
        parse_frame_range(text)

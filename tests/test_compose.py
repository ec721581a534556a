"""Composition at native resolution (issue 8): palette-exact flat fills, gap closing,
confidence, carry-over, line handling, the region matcher baseline and the review output."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.compose import (
    compose,
    confidence_path,
    frames_below,
    prepare_reference,
    review_line,
    write_confidence,
)
from core.compose.composer import FRINGE
from core.compose.palette import PaletteLUT, _codes, extract_palette
from core.compose.segment import segment
from core.data.procedural import render_shot
from core.errors import InkpaintError
from core.eval.regions import match_colours, pixel_accuracy, region_accuracy
from core.eval.simulate import LEVELS, simulate_network
from core.motion import FrameMotion, WarpedKey, guide, warp_key
from core.preprocess import line_art

A, B, C, D = (np.array(c, np.uint8) for c in
              ([230, 180, 60], [70, 120, 200], [200, 60, 90], [120, 200, 110]))


def _px(lines_u8: np.ndarray) -> np.ndarray:
    return lines_u8[..., None].astype(np.float32) / 255


def _u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def _in(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return np.isin(_codes(colours), _codes(palette[None])[0])


def _canvas(h: int = 120, w: int = 160) -> np.ndarray:
    return np.full((h, w), 255, np.uint8)


def _paint(lines: np.ndarray, seeds: list[tuple[tuple[int, int], np.ndarray]],
           background: np.ndarray) -> np.ndarray:
    """A painted frame: flood-fill the line art's regions from seed points, lines in black."""
    ink = line_art(_px(lines))[1] >= 0.3
    n, lab = cv2.connectedComponents((~ink).view(np.uint8), connectivity=4)
    out = np.empty(lines.shape + (3,), np.uint8)
    out[:] = background
    for (y, x), col in seeds:
        out[lab == lab[y, x]] = col
    a = 1 - lines.astype(np.float32)[..., None] / 255
    return np.rint(out * (1 - a)).astype(np.uint8)


# ---------------------------------------------------------------- regions


def test_segment_closes_a_gap_that_a_flood_fill_leaks_through():
    lines = _canvas()
    cv2.rectangle(lines, (10, 10), (150, 110), 0, 3, cv2.LINE_AA)
    cv2.line(lines, (80, 10), (80, 49), 0, 3, cv2.LINE_AA)
    cv2.line(lines, (80, 60), (80, 110), 0, 3, cv2.LINE_AA)  # a 6 px gap
    mask = line_art(_px(lines))[1]
    n, plain = cv2.connectedComponents((mask < 0.3).view(np.uint8), connectivity=4)
    assert plain[60, 40] == plain[60, 120]  # the gap is real: a plain fill leaks
    seg = segment(mask)
    assert seg.labels[60, 40] != seg.labels[60, 120]
    assert seg.labels[60, 40] > 0 and seg.labels[60, 120] > 0
    assert seg.filled()[10, 40] in (seg.labels[60, 40], seg.labels[0, 0])  # ink gets a region


def test_segment_leaks_less_than_a_flood_fill_on_gappy_procedural_lines():
    def leak(labels: np.ndarray, color: np.ndarray, palette: np.ndarray) -> float:
        """Share of fill pixels not in their segment's majority colour."""
        code = _codes(color)
        ok = (labels > 0) & np.isin(code, _codes(palette[None])[0])
        key = labels[ok].astype(np.int64) * (1 << 24) + code[ok]
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        seg_of = np.unique(key) >> 24
        best = np.zeros(labels.max() + 1)
        np.maximum.at(best, seg_of, cnt)
        return 1 - best.sum() / ok.sum()

    ours, plain = [], []
    for seed in (11, 12, 13):
        shot = render_shot(seed, frames=1, size=256, style="pencil")
        mask = line_art(_px(shot.lines[0]))[1]
        ours.append(leak(segment(mask).labels, shot.color[0], shot.palette))
        _, cc = cv2.connectedComponents((mask < 0.3).view(np.uint8), connectivity=4)
        plain.append(leak(cc, shot.color[0], shot.palette))
    assert np.mean(ours) < 0.5 * np.mean(plain)


def test_palette_takes_flat_fills_not_gradients_or_lines():
    lines = _canvas()
    cv2.circle(lines, (50, 60), 30, 0, 4, cv2.LINE_AA)
    cv2.circle(lines, (120, 60), 25, 0, 4, cv2.LINE_AA)
    color = _paint(lines, [((60, 50), A), ((60, 120), B)], C)
    ramp = np.linspace(0, 120, 160).astype(np.uint8)  # a gradient band in the corner
    color[100:, :, 0] = ramp
    color[100:, :, 1:] = 40
    pal = extract_palette(color, line_art(_px(lines))[1])
    codes = set(_codes(pal[None])[0].tolist())
    assert codes == set(_codes(np.stack([A, B, C])[None])[0].tolist())


def test_the_nearest_palette_colour_is_exact_also_where_two_fills_share_a_table_bin():
    """White paper (255) and an off-white highlight (250) fall in one bin of the 32^3 table,
    whose centre is nearer 250: every fill, and every colour a few levels off one (lossy
    compression) in its bin, must still get its own nearest fill; other colours the
    table's, within a bin's diagonal of the nearest."""
    white, off_white = np.array([255, 255, 255], np.uint8), np.array([250, 250, 250], np.uint8)
    palette = np.stack([white, off_white, A, B, C, D])
    lut = PaletteLUT.build(palette)
    assert lut.nearest(palette)[0].tolist() == list(range(len(palette)))
    rng = np.random.default_rng(0)
    near = palette[rng.integers(0, len(palette), 4000)].astype(int) + rng.integers(-3, 4, (4000, 3))
    colours = np.clip(np.concatenate([near, rng.integers(0, 256, (4000, 3))]), 0, 255)
    colours = colours.astype(np.uint8)
    index, dist = lut.nearest(colours)
    d = np.linalg.norm(colours[:, None].astype(float) - palette[None].astype(float), axis=2)
    got = d[np.arange(len(d)), index]
    held = np.isin(lut.bins(colours), lut.bins(palette))
    assert held[:4000].mean() > 0.5  # most colours near a fill share its bin
    np.testing.assert_allclose(got[held], d.min(1)[held], atol=1e-3)
    np.testing.assert_allclose(dist[held], d.min(1)[held], atol=1e-3)
    assert (got <= d.min(1) + np.sqrt(3) * 8 + 1e-3).all()
    assert (np.abs(dist - got) <= np.sqrt(3) * 4 + 1e-3).all()


# ---------------------------------------------------------------- composition


def _shot_pair(seed: int = 4, size: int = 192):
    """A procedural shot (clean lines) and its 4 frames; frame 1 differs from the keys."""
    shot = render_shot(seed, frames=4, size=size, style="clean")
    assert not np.array_equal(shot.lines[1], shot.lines[0])
    refs = [prepare_reference(shot.color[k], _px(shot.lines[k])) for k in (0, 3)]
    net = simulate_network(shot.color[1], shot.palette, LEVELS["typical"],
                           np.random.default_rng(seed))
    return shot, refs, net


def test_flat_output_has_only_palette_and_line_colours_in_every_pixel():
    shot, refs, net = _shot_pair()
    palette = np.unique(np.concatenate([r.palette for r in refs]), axis=0)
    px = _px(shot.lines[1])
    filled = compose(px, net, refs, mode="flat", lines="fill")
    fill_u8 = _u8(filled.rgb)
    assert _in(fill_u8, palette).all()  # every pixel, lines included
    assert _in(fill_u8, shot.palette).all()  # and those are the model sheet's colours
    kept = compose(px, net, refs, mode="flat", lines="keep")
    mask = line_art(px)[1]
    assert _in(_u8(kept.rgb)[mask <= FRINGE], palette).all()
    # every line pixel is that fill under the drawn line: black ink at its coverage,
    # painted in the references' ink colour
    alpha = (1 - px)[..., :1]
    ink = refs[0].ink if refs[0].ink is not None else np.zeros(3, np.float32)
    expect = np.where((mask > FRINGE)[..., None], filled.rgb * (1 - alpha) + ink * alpha,
                      filled.rgb)
    np.testing.assert_allclose(kept.rgb, expect, atol=1e-5)


def test_modes_differ_as_documented():
    shot, refs, net = _shot_pair()
    px = _px(shot.lines[1])
    plain = compose(px, net, refs, mode="network")
    np.testing.assert_array_equal(plain.rgb, net)  # the network's output, untouched
    gt = shot.color[1]
    auto = compose(px, net, refs, mode="auto")
    flat = compose(px, net, refs, mode="flat")
    lines = shot.lines[1]
    assert region_accuracy(auto.rgb, gt, lines) > region_accuracy(plain.rgb, gt, lines)
    assert region_accuracy(flat.rgb, gt, lines) > region_accuracy(plain.rgb, gt, lines)
    as_u8 = compose(shot.lines[1], net, refs, mode="auto")  # render_shot's uint8 line art
    np.testing.assert_array_equal(as_u8.rgb, auto.rgb)
    for c in (plain, auto, flat):
        assert c.confidence.shape == gt.shape[:2] and c.confidence.dtype == np.float32
        assert 0 <= c.confidence.min() and c.confidence.max() <= 1 and 0 <= c.score <= 1
    with pytest.raises(InkpaintError, match="compose mode"):
        compose(px, net, refs, mode="paint")
    with pytest.raises(InkpaintError, match="line mode"):
        compose(px, net, refs, lines="thin")


def _two_squares(shift: int) -> np.ndarray:
    lines = _canvas()
    cv2.rectangle(lines, (15 + shift, 20), (70 + shift, 100), 0, 2, cv2.LINE_AA)
    cv2.rectangle(lines, (90 + shift, 20), (145 + shift, 100), 0, 2, cv2.LINE_AA)
    cv2.circle(lines, (8, 8), 5, 0, 2, cv2.LINE_AA)  # a small C region in the reference
    return lines


def _warped(rgb: np.ndarray) -> WarpedKey:
    """A key already on the frame's grid, its warp valid everywhere."""
    ones = np.ones(rgb.shape[:2], np.float32)
    return WarpedKey(rgb, ones, ones)


def test_confidence_is_low_where_the_evidence_disagrees():
    """Both squares moved: on the left one the warped keys and the counterpart agree (sure);
    on the right one the two keys' warps say A and C and the counterpart says B (flagged)."""
    ref_lines = _two_squares(0)
    ref = prepare_reference(_paint(ref_lines, [((60, 40), A), ((60, 115), B), ((8, 8), C)], D),
                            _px(ref_lines))
    lines = _two_squares(16)  # moved too far for any pixel to be carried over
    grey = np.full(lines.shape + (3,), 0.5, np.float32)  # a network that knows nothing
    one = _paint(lines, [((60, 58), A), ((60, 133), A), ((8, 8), C)], D)
    two = _paint(lines, [((60, 58), A), ((60, 133), C), ((8, 8), C)], D)
    motion = FrameMotion([_warped(one), _warped(two)])
    for mode in ("auto", "flat"):
        out = compose(_px(lines), grey, [ref], mode=mode, motion=motion)
        assert out.confidence[60, 58] > 0.8, mode
        assert out.confidence[60, 133] < min(0.65, out.confidence[60, 58] - 0.3), mode
        np.testing.assert_array_equal(_u8(out.rgb[60, 58]), A)
        # auto also weighs "not one fill" (the keys' own pixels), so it is less sure still
        assert mode == "flat" or (out.confidence[60, 133] < 0.5 and out.flagged >= 1)


def test_white_paper_beside_an_off_white_keeps_its_white():
    """Two moved squares, one white paper (255) and one an off-white highlight (250): the
    keys' warps show each its own colour, and each comes out in it, not both in one."""
    white, off_white = np.array([255, 255, 255], np.uint8), np.array([250, 250, 250], np.uint8)
    ref_lines = _two_squares(0)
    ref = prepare_reference(_paint(ref_lines, [((60, 40), white), ((60, 115), off_white),
                                               ((8, 8), C)], D), _px(ref_lines))
    lines = _two_squares(16)  # moved too far for any pixel to be carried over
    truth = _paint(lines, [((60, 58), white), ((60, 133), off_white), ((8, 8), C)], D)
    grey = np.full(lines.shape + (3,), 0.5, np.float32)
    for mode in ("auto", "flat"):
        out = compose(_px(lines), grey, [ref], mode=mode,
                      motion=FrameMotion([_warped(truth), _warped(truth)]))
        np.testing.assert_array_equal(_u8(out.rgb[30:90, 40:75]), truth[30:90, 40:75])
        np.testing.assert_array_equal(_u8(out.rgb[30:90, 115:150]), truth[30:90, 115:150])


@pytest.mark.parametrize("thickness, strip", [(2, 80), (9, 96)])
def test_a_region_spanning_fills_without_a_line_between_follows_the_warp(thickness, strip):
    """Outline-free line art: a square painted A on most of it and B on a strip at its right
    with no line between is one region, which the decision gives A (its main fill). Moved,
    it takes the keys' warped pixels (each part its own colour) instead of A for the whole
    region. Also where the lines are thick and the strip runs beside one (an arm painted
    along a body's outline in OpenMoji: its edge is within a line width of the line)."""
    def square(shift: int) -> tuple[np.ndarray, np.ndarray]:
        lines = _canvas()
        cv2.rectangle(lines, (30 + shift, 20), (110 + shift, 100), 0, thickness, cv2.LINE_AA)
        color = _paint(lines, [((60, 50 + shift), A)], D)
        part = np.zeros(lines.shape, bool)
        part[22:99, strip + shift:109 + shift] = True
        color[part & (line_art(_px(lines))[1] <= FRINGE)] = B  # up to the line, not over it
        return lines, color

    key_lines, key_color = square(0)
    lines, truth = square(14)  # moved too far for any pixel to be carried over
    ref = prepare_reference(key_color, _px(key_lines))
    assert ref.seams[60, strip] == 255 and ref.seams[60, 50] == 0
    mask = line_art(_px(lines))[1]
    key = warp_key(guide(mask), guide(ref.mask), ref.rgb, 1.0, seams=ref.seams)
    grey = np.full(lines.shape + (3,), 0.5, np.float32)
    out = compose(_px(lines), grey, [ref], motion=FrameMotion([key]), mask=mask)
    assert out.sources.get("split") == 1
    for y, x in ((40, 60), (80, 60), (40, strip + 16), (80, strip + 16)):  # A, then B
        assert np.abs(_u8(out.rgb[y, x]).astype(int) - truth[y, x]).max() <= 6, (y, x)


def test_a_shading_band_with_no_line_moves_between_the_keys_in_palette_colours():
    """A cel-shading band (B) with no line on its edge, inside a part that moved 14 px: the
    earlier key has the edge 50 px into the part, the later one 66 px. Each key's warp brings
    its own edge, and the in-between's edge lies between them by the keys' weights (nearer
    the key nearer in time). No pixel is a mix of the two fills: blended pixel by pixel, the
    keys would show both edges at half strength (a ghost band)."""
    def part(x: int, edge: int) -> tuple[np.ndarray, np.ndarray]:
        lines = _canvas()
        cv2.rectangle(lines, (x, 20), (x + 80, 100), 0, 2, cv2.LINE_AA)
        color = _paint(lines, [((60, x + 20), A)], D)
        color[22:99, x + edge:x + 79] = B
        return lines, color

    refs = [prepare_reference(c, _px(ln)) for ln, c in (part(20, 50), part(20, 66))]
    lines, _ = part(34, 50)
    mask = line_art(_px(lines))[1]
    warped = [prepare_reference(part(34, edge)[1], _px(lines)) for edge in (50, 66)]
    held = np.ones(lines.shape, np.float32)
    grey = np.full(lines.shape + (3,), 0.5, np.float32)
    inside = (slice(30, 90), slice(44, 104))
    edges = []
    for near in (0.5, 0.75):  # the earlier key's temporal weight
        keys = [WarpedKey(r.rgb, held * w, held, r.seams)
                for r, w in zip(warped, (near, 1 - near))]
        out = compose(_px(lines), grey, refs, motion=FrameMotion(keys), mask=mask)
        assert out.sources.get("split") == 1
        got = _u8(out.rgb[inside]).reshape(-1, 3)
        assert _in(got, np.stack([A, B])).all(), np.unique(got, axis=0)
        row = _u8(out.rgb[60, 44:114])
        edges.append(44 + int(np.argmax((row == B).all(1))))
    assert abs(edges[0] - (34 + 58)) <= 1 and abs(edges[1] - (34 + 54)) <= 1, edges


def test_a_part_that_moved_past_the_keys_flow_keeps_the_colours_the_previous_frame_had():
    """A shaded part (a gradient: no palette colour) swings farther than the key's flow
    follows, so the key's warp fails there and brings in the paper around it (the white
    holes in the legs of a walk cycle). The previous frame's output, carried by the
    neighbour flow, still has the part: the frame takes its colours, not the paper."""
    def frame(x: int) -> tuple[np.ndarray, np.ndarray]:
        lines = _canvas()
        cv2.rectangle(lines, (x, 30), (x + 40, 90), 0, 2, cv2.LINE_AA)
        color = _paint(lines, [], np.array([255, 255, 255], np.uint8))
        shade = np.linspace(60, 200, 57).astype(np.uint8)[:, None, None]
        color[32:89, x + 2:x + 39] = np.concatenate([shade, shade // 2, 255 - shade], 2)
        return lines, color

    key_lines, key_color = frame(15)
    lines, truth = frame(100)  # 85 px from the key: no pixel carried over
    ref = prepare_reference(key_color, _px(key_lines))
    failed = np.ones(lines.shape, np.float32)
    failed[25:95, 95:145] = 0.0  # the key's flow lost the part: paper there, not trusted
    key = WarpedKey(np.full_like(truth, 255), np.maximum(failed, 1e-3) * 0.4, failed)
    before = WarpedKey(truth, np.full(lines.shape, 0.6, np.float32),
                       np.ones(lines.shape, np.float32))
    grey = np.full(lines.shape + (3,), 0.5, np.float32)
    inside = (slice(36, 85), slice(106, 135))
    for track, part in ((before, True), (None, False)):
        out = compose(_px(lines), grey, [ref], motion=FrameMotion([key], track))
        off = np.abs(_u8(out.rgb[inside]).astype(int) - truth[inside]).max(2)
        assert (np.median(off) <= 3) == part, np.median(off)


def test_lines_the_keys_did_not_paint_take_the_warped_keys_pixels():
    """Line art extracted from the colour's edges (the keys have no black lines: the paint
    just changes colour there) is not drawn over the frame where the warp is unsure: its
    line pixels take the warped keys' colours. Keys that painted their lines black or in a
    dark colour get them drawn from the line art."""
    def frame(shift: int) -> tuple[np.ndarray, np.ndarray]:
        lines = _canvas()
        cv2.rectangle(lines, (30 + shift, 20), (130 + shift, 100), 0, 2, cv2.LINE_AA)
        cv2.line(lines, (80 + shift, 20), (80 + shift, 100), 0, 2, cv2.LINE_AA)
        color = np.empty(lines.shape + (3,), np.uint8)
        color[:] = D
        color[20:101, 30 + shift:81 + shift] = A
        color[20:101, 81 + shift:131 + shift] = B
        return lines, color

    key_lines, key_color = frame(0)
    lines, truth = frame(6)
    grey = np.full(lines.shape + (3,), 0.5, np.float32)
    unsure = WarpedKey(truth, *(np.full(lines.shape, 0.2, np.float32),) * 2)
    inked = _paint(key_lines, [((60, 50), A), ((60, 110), B)], D)  # lines painted black
    green = key_color.copy()
    green[key_lines < 128] = (0, 67, 0)  # lines painted dark green
    for key, drawn in ((key_color, False), (inked, True), (green, True)):
        ref = prepare_reference(key, _px(key_lines))
        out = compose(_px(lines), grey, [ref], motion=FrameMotion([unsure]))
        off = np.abs(_u8(out.rgb[60, 86]).astype(int) - truth[60, 86]).max()  # truth: fills
        assert off > 60 if drawn else off <= 2, off


def test_the_network_alone_does_not_overrule_the_counterpart():
    """A moved square whose network colours say B although its counterpart in the key is A:
    the fitted decision trusts the counterpart (the network's vote weighs least), in ``auto``
    and ``flat`` alike; where the network agrees with it, the region is surer."""
    ref_lines = _two_squares(0)
    ref = prepare_reference(_paint(ref_lines, [((60, 40), A), ((60, 115), B), ((8, 8), C)], D),
                            _px(ref_lines))
    lines = _two_squares(16)  # moved too far for any pixel to be carried over
    net = _paint(lines, [((60, 58), B), ((60, 133), B)], D).astype(np.float32) / 255
    for mode in ("auto", "flat"):
        out = compose(_px(lines), net, [ref], mode=mode)
        np.testing.assert_array_equal(_u8(out.rgb[60, 58]), A)
        np.testing.assert_array_equal(_u8(out.rgb[60, 133]), B)
        assert out.confidence[60, 58] < out.confidence[60, 133]


def test_carry_over_takes_the_reference_pixels_where_the_line_art_is_unchanged():
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    backdrop = np.stack([80 + xx // 4, 90 + yy // 3, 140 - xx // 5], -1).astype(np.uint8)

    def frame(cx: int) -> tuple[np.ndarray, np.ndarray]:
        lines = _canvas(h, w)
        cv2.rectangle(lines, (10, 10), (50, 50), 0, 2, cv2.LINE_AA)  # a static square
        cv2.circle(lines, (cx, 85), 14, 0, 2, cv2.LINE_AA)  # a moving ball
        color = backdrop.copy()
        ink = line_art(_px(lines))[1]
        n, lab = cv2.connectedComponents((ink < 0.3).view(np.uint8), connectivity=4)
        color[lab == lab[30, 30]] = A
        color[lab == lab[85, cx]] = B
        return lines, np.rint(color * (1 - ink[..., None])).astype(np.uint8)

    ref_lines, ref_color = frame(60)
    lines, truth = frame(110)
    ref = prepare_reference(ref_color, _px(ref_lines))
    grey = np.full((h, w, 3), 0.5, np.float32)  # a network that got everything wrong
    auto = compose(_px(lines), grey, [ref], mode="auto")
    far = np.zeros((h, w), bool)
    far[5:58, 60:155] = True  # painted background away from both balls
    np.testing.assert_array_equal(_u8(auto.rgb)[far], ref_color[far])
    assert (auto.confidence[far] == 1).all()
    flat = compose(_px(lines), grey, [ref], mode="flat")
    for c in (auto, flat):  # the static square keeps the reference's fill
        np.testing.assert_array_equal(_u8(c.rgb)[30, 30], A)


def test_lines_keep_their_colour_or_take_the_fill():
    lines = _canvas()
    cv2.rectangle(lines, (10, 10), (150, 110), 0, 3)
    cv2.line(lines, (80, 10), (80, 110), 0, 3)
    color_lines = np.repeat(lines[..., None], 3, 2)
    cv2.line(color_lines, (10, 60), (80, 60), (255, 0, 0), 3)  # a red shadow line
    px = color_lines.astype(np.float32) / 255
    painted = _paint(lines, [((30, 40), A), ((90, 40), A), ((60, 120), B)], C)
    ref = prepare_reference(painted, np.repeat(_px(lines), 3, 2))
    net = painted.astype(np.float32) / 255
    keep = _u8(compose(px, net, [ref], mode="flat", lines="keep").rgb)
    np.testing.assert_array_equal(keep[60, 30], [255, 0, 0])  # coloured line as drawn
    np.testing.assert_array_equal(keep[10, 40], [0, 0, 0])  # black line as drawn
    np.testing.assert_array_equal(keep[30, 40], A)
    fill = _u8(compose(px, net, [ref], mode="flat", lines="fill").rgb)
    assert _in(fill, np.stack([A, B, C])).all()
    np.testing.assert_array_equal(fill[60, 30], A)  # the red line between two A regions
    np.testing.assert_array_equal(fill[60, 80], fill[60, 77])  # a line takes a neighbour


def test_a_held_cel_is_the_reference_exactly():
    shot, refs, net = _shot_pair()
    out = compose(_px(shot.lines[3]), net, refs, mode="auto")
    np.testing.assert_array_equal(_u8(out.rgb), shot.color[3])
    assert out.score == 1.0


# ---------------------------------------------------------------- evaluation


def test_region_matcher_colours_an_unmoved_frame_near_perfectly():
    shot = render_shot(21, frames=2, size=192, style="clean")
    ref = prepare_reference(shot.color[0], _px(shot.lines[0]))
    out = match_colours(shot.lines[0], [ref])
    assert region_accuracy(out, shot.color[0], shot.lines[0], shot.palette) >= 0.97
    assert pixel_accuracy(out, shot.color[0], shot.lines[0]) >= 0.9


def test_region_and_pixel_accuracy():
    shot = render_shot(22, frames=1, size=128, style="clean")
    gt, lines = shot.color[0], shot.lines[0]
    assert region_accuracy(gt, gt, lines, shot.palette) == 1.0
    assert pixel_accuracy(gt, gt, lines) == 1.0
    wrong = gt.copy()
    big = np.argmax(np.bincount(_codes(gt).ravel() % 997))  # any one fill, repainted
    sel = (_codes(gt) % 997) == big
    wrong[sel] = 255 - wrong[sel]
    assert region_accuracy(wrong, gt, lines, shot.palette) < 1.0
    assert pixel_accuracy(wrong, gt, lines) < 1.0


# ---------------------------------------------------------------- review output


def test_confidence_maps_and_review_lists(tmp_path):
    assert confidence_path("out/color.1003.png").name == "color.confidence.1003.png"
    assert confidence_path("out/color.1003.exr").name == "color.confidence.1003.png"
    conf = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    p = write_confidence(tmp_path / "color.confidence.1003.png", conf)
    back = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert back.shape == (3, 4) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, np.rint(conf * 255))
    scores = {1001: 0.9, 1002: 0.4, 1003: 0.55, 1005: 0.2}
    assert frames_below(scores, 0.6) == [1002, 1003, 1005]
    assert review_line(scores, 0.6).endswith("3 of 4 frames below 0.60: 1002-1003, 1005")


def test_rerun_recolours_only_frames_whose_inputs_changed(tmp_path):
    from core.compose.cache import RenderRun

    line = {f: tmp_path / f"line.{f}.png" for f in range(1, 7)}
    for f, p in line.items():
        p.write_bytes(b"line %d" % f)
    key1, key6 = tmp_path / "ref1.png", tmp_path / "ref6.png"
    key1.write_bytes(b"paint 1")
    key6.write_bytes(b"paint 6")
    out = {f: tmp_path / f"out.{f:04d}.png" for f in line}
    pattern = tmp_path / "out.####.png"
    settings = {"model": "lite", "compose": "auto", "lines": "keep"}

    def run(**changed: object) -> RenderRun:
        return RenderRun({f: [line[f], key1 if f <= 3 else key6] for f in line},
                         {**settings, **changed}, pattern, out)

    first = run()
    plan = first.plan
    assert plan.todo == [1, 2, 3, 4, 5, 6] and plan.unchanged == [] and plan.changed == []
    for f in plan.todo:
        with first.writing(f, b"frame %d" % f, 0.5) as path:
            path.write_bytes(b"frame %d" % f)
    key6.write_bytes(b"paint 6, corrected")  # the artist fixes the second key
    plan = run().plan
    assert plan.todo == plan.changed == [4, 5, 6] and plan.unchanged == [1, 2, 3]
    assert run(lines="fill").plan.todo == [1, 2, 3, 4, 5, 6]  # other settings: all stale


def test_bench_compose_prints_a_row_per_mode(capsys):
    """The 1080p composition benchmark through the CLI (2 frames: it prints, it does not
    judge the numbers); a bad mode is a one-line error."""
    from core.cli import main

    assert main(["bench-compose", "--modes", "flat", "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert "composition at 1920x1080" in out and "| flat | keep |" in out
    assert main(["bench-compose", "--modes", "sparkle"]) == 1
    assert "use --modes from" in capsys.readouterr().err


def test_a_drawn_part_a_gap_joins_to_its_neighbour_keeps_the_colour_the_keys_give_it():
    """A leg drawn by its outline, which stops short of closing it (the gap is wider than
    the segmentation closes), is one region with the paper around it. The keys' warp shows
    the leg's colour inside the outline, so that region spans two fills: it takes the warped
    keys' pixels, not one fill. The same paint dragged by a failed flow onto open paper (its
    edge in the open, not on the lines) does not count: the region keeps its one fill."""
    navy, yellow = np.array([29, 47, 78], np.uint8), np.array([252, 234, 43], np.uint8)

    def leg(x: int, closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        lines = _canvas()
        cv2.line(lines, (x, 0), (x, 70), 0, 2)
        cv2.line(lines, (x + 30, 0), (x + 30, 70), 0, 2)
        cv2.line(lines, (x, 70), (x + (30 if closed else 12), 70), 0, 2)  # or an 18 px gap
        colour = np.empty(lines.shape + (3,), np.uint8)
        colour[:] = navy
        colour[:70, x + 1:x + 30] = yellow
        return lines, colour

    key_lines, key_colour = leg(20, closed=True)
    key_lines[4::8] = 0  # hatching: no neighbourhood of the in-between is the key's
    lines, truth = leg(70)
    open_paper = truth.copy()
    open_paper[10:60, 75:96] = navy
    open_paper[10:60, 120:141] = yellow  # the leg's paint beside it, on open paper
    for c, ln in ((key_colour, key_lines), (truth, lines), (open_paper, lines)):
        c[line_art(_px(ln))[1] > 0.5] = 0
    ref = prepare_reference(key_colour, _px(key_lines))
    held = np.ones(lines.shape, np.float32)
    grey = np.full(lines.shape + (3,), 0.5, np.float32)
    leg_inside, paper = (slice(10, 60), slice(75, 96)), (slice(10, 60), slice(120, 141))
    for warped, part, colour in ((truth, leg_inside, yellow), (open_paper, paper, navy)):
        out = compose(_px(lines), grey, [ref],
                      motion=FrameMotion([WarpedKey(warped, held * 0.5, held)]))
        off = np.abs(_u8(out.rgb[part]).astype(int) - colour).max(2)
        assert (off <= 3).mean() > 0.95, (off <= 3).mean()

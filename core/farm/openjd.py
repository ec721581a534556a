"""Open Job Description job bundle (what AWS Deadline Cloud runs; ``openjd run`` runs it
locally): ``template.yaml`` and ``parameter_values.yaml``.

One step per unit of the chunk plan (the frames coloured towards one key), each with a
``CHUNK[INT]`` task parameter (``TASK_CHUNKING`` extension, contiguous chunks of
``ChunkSize`` frames) so the scheduler cuts exactly the planned chunks. Paths are ``PATH``
job parameters, so Deadline Cloud maps them between operating systems and job attachments
upload the inputs (``dataFlow: IN``) and download the frames (``dataFlow: OUT``). OpenJD
allows only relative defaults for paths, so the submission's values are in
``parameter_values.yaml`` (Deadline Cloud's bundle format) and ``job_params.json`` (for
``openjd run -p file://job_params.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .job import JobSpec, is_path, split_path_pattern

SPEC = "jobtemplate-2023-09"


def _key_params(spec: JobSpec) -> tuple[list[dict], list[str]]:
    params, refs, sheets = [], [], 0
    for key in spec.keys:
        if key.frame is None:
            sheets += 1
            base = f"Sheet{sheets}"
            label = f"model sheet {sheets}"
        else:
            base = f"Key{key.frame}"
            label = f"key at frame {key.frame}"
        params.append({"name": base, "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
                       "description": f"Painted {label}."})
        ref = ("sheet" if key.frame is None else str(key.frame)) + f"={{{{Param.{base}}}}}"
        if key.lineart:
            params.append({"name": f"{base}LineArt", "type": "PATH", "objectType": "FILE",
                           "dataFlow": "IN",
                           "description": f"Line art of the {label}."})
            ref += f",{{{{Param.{base}LineArt}}}}"
        refs.append(ref)
    return params, refs


def values(spec: JobSpec) -> dict[str, Any]:
    """The submission's value of every job parameter."""
    line_dir, line_name = split_path_pattern(spec.lineart)
    out_dir, out_name = split_path_pattern(spec.out)
    v: dict[str, Any] = {"LineArtDir": line_dir, "LineArtName": line_name,
                         "OutputDir": out_dir, "OutputName": out_name}
    sheets = 0
    for key in spec.keys:
        if key.frame is None:
            sheets += 1
        base = f"Sheet{sheets}" if key.frame is None else f"Key{key.frame}"
        v[base] = key.color
        if key.lineart:
            v[f"{base}LineArt"] = key.lineart
    v.update(Model=spec.model, Device=spec.device, ChunkSize=spec.plan.chunk_size)
    return v


def job_template(spec: JobSpec) -> dict[str, Any]:
    line_name, out_name = values(spec)["LineArtName"], values(spec)["OutputName"]
    key_params, refs = _key_params(spec)
    model: dict[str, Any] = {"name": "Model",
                             "type": "PATH" if is_path(spec.model) else "STRING",
                             "description": "Weights: lite, paper or a .safetensors path."}
    if not is_path(spec.model):
        model["default"] = spec.model
    params: list[dict[str, Any]] = [
        {"name": "LineArtDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
         "description": "Folder of the shot's line-art frames.",
         "userInterface": {"control": "CHOOSE_DIRECTORY", "label": "Line-art folder"}},
        {"name": "LineArtName", "type": "STRING", "default": line_name,
         "description": "Line-art file names, e.g. line.####.png."},
        {"name": "OutputDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT",
         "description": "Folder the coloured frames are written to.",
         "userInterface": {"control": "CHOOSE_DIRECTORY", "label": "Output folder"}},
        {"name": "OutputName", "type": "STRING", "default": out_name,
         "description": "Output file names, e.g. color.####.png (png, tif or exr)."},
        *key_params,
        model,
        {"name": "Device", "type": "STRING", "default": spec.device,
         "allowedValues": ["auto", "cpu", "cuda"]},
        {"name": "ChunkSize", "type": "INT", "default": spec.plan.chunk_size, "minValue": 1,
         "description": "Frames per task. The default is a whole number of temporal windows, "
                        "so no window is split between two tasks."},
    ]
    args = spec.colorize_args("{{Task.Param.Frame}}", "openjd",
                              lineart="{{Param.LineArtDir}}/{{Param.LineArtName}}",
                              out="{{Param.OutputDir}}/{{Param.OutputName}}", keys=refs)
    args = _replace_opt(_replace_opt(args, "--model", "{{Param.Model}}"),
                        "--device", "{{Param.Device}}")
    steps = []
    for i, unit in enumerate(spec.plan.units):
        if not spec.plan.unit_chunks(i):
            continue
        chunks = spec.plan.unit_chunks(i)
        frames = f"{chunks[0].start}-{chunks[-1].end}"
        what = "Key" if unit.key_only else "Colorize"
        label = str(chunks[0].start) if chunks[0].start == chunks[-1].end else frames
        step: dict[str, Any] = {
            "name": f"{what} {label}",
            "description": f"Frames {frames}" + (f", coloured towards key {unit.keys[-1]}"
                                                 if unit.keys and not unit.key_only else ""),
            "parameterSpace": {"taskParameterDefinitions": [{
                "name": "Frame", "type": "CHUNK[INT]", "range": frames,
                "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}",
                           "rangeConstraint": "CONTIGUOUS"},
            }]},
            "script": {"actions": {"onRun": {
                "command": spec.command[0],
                "args": [*spec.command[1:], *args],
                "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30},
            }}},
        }
        if spec.device == "cuda":
            step["hostRequirements"] = {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}
        steps.append(step)
    template: dict[str, Any] = {
        "specificationVersion": SPEC,
        "extensions": ["TASK_CHUNKING"],
        "name": spec.name,
        "description": f"Inkpaint: colour {spec.lineart} from {len(spec.keys)} painted keys "
                       f"into {spec.out}. Generated by 'inkpaint farm submit --farm openjd'.",
        "parameterDefinitions": params,
    }
    if spec.env:
        template["jobEnvironments"] = [{"name": "Inkpaint", "variables": dict(spec.env)}]
    template["steps"] = steps
    return template


def _replace_opt(args: list[str], opt: str, value: str) -> list[str]:
    out = list(args)
    i = out.index(opt)
    out[i + 1] = value
    return out


def parameter_values(spec: JobSpec) -> dict[str, Any]:
    """Deadline Cloud's ``parameter_values.yaml``: the submission's values (the template's
    defaults are the same, so ``openjd run template.yaml`` needs none)."""
    entries = [{"name": "deadline:priority", "value": spec.priority}]
    entries += [{"name": k, "value": v} for k, v in values(spec).items()]
    return {"parameterValues": entries}


def write_bundle(spec: JobSpec, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    template = dest / "template.yaml"
    pvalues, params = dest / "parameter_values.yaml", dest / "job_params.json"
    header = ("# Generated by inkpaint farm submit --farm openjd. Run a step here with:\n"
              "#   openjd run template.yaml -p file://job_params.json --step 'STEP'\n")
    template.write_text(header + yaml.safe_dump(job_template(spec), sort_keys=False,
                                                width=1000), encoding="utf-8")
    pvalues.write_text(yaml.safe_dump(parameter_values(spec), sort_keys=False, width=1000),
                       encoding="utf-8")
    params.write_text(json.dumps(values(spec), indent=2) + "\n", encoding="utf-8")
    return [template, pvalues, params]


def submit_command(dest: Path) -> list[str]:
    return ["deadline", "bundle", "submit", str(dest)]

"""Render-farm side of Inkpaint: chunk planning (``chunks``) and job generators for Open Job
Description / AWS Deadline Cloud (``openjd``), Deadline 10 (``deadline``), OpenCue
(``opencue``), Flamenco (``flamenco``) and Blender/Nuke nodes (``apps``). Every generated task
runs ``inkpaint colorize --frames A-B`` for one chunk."""

from .chunks import Chunk, ChunkPlan, Unit, plan_chunks

__all__ = ["Chunk", "ChunkPlan", "Unit", "plan_chunks"]

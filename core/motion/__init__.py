"""Motion between line-art frames (issue 12): dense flow on line-art guides with a
forward-backward validity (``flow``), and the keys warped onto an in-between (``keys``)."""

from .flow import FLOW_SIDE, Guide, Motion, chain, guide, motion, warp
from .keys import FrameMotion, WarpedKey, blend, temporal_weights, warp_anchor, warp_key

__all__ = ["FLOW_SIDE", "FrameMotion", "Guide", "Motion", "WarpedKey", "blend", "chain", "guide",
           "motion", "temporal_weights", "warp", "warp_anchor", "warp_key"]

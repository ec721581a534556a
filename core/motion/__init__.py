"""Motion between line-art frames (issue 12): dense flow on line-art guides with a
forward-backward validity (``flow``), key flows started from the chain of neighbour flows
(``paths``), and the keys warped onto an in-between (``keys``)."""

from .flow import FLOW_SIDE, Guide, Motion, chain, guide, motion, warp
from .keys import FrameMotion, WarpedKey, blend, temporal_weights, warp_anchor, warp_key
from .paths import Paths

__all__ = ["FLOW_SIDE", "FrameMotion", "Guide", "Motion", "Paths", "WarpedKey", "blend", "chain",
           "guide", "motion", "temporal_weights", "warp", "warp_anchor", "warp_key"]

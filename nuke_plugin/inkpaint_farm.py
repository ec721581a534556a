"""``nuke -t /path/to/nuke_plugin/inkpaint_farm.py comp.nk [options]`` (see
inkpaint_nuke/farm.py); NUKE_PATH must include this folder."""

import sys

from inkpaint_nuke import farm

sys.exit(farm.main(sys.argv[1:]))

# Inkpaint for Nuke: runs in every mode (GUI, nuke -t, nuke -x renders). Add this folder to
# NUKE_PATH; the gizmos and icons become available to nuke.createNode and the render farm.
import nuke

nuke.pluginAddPath("./gizmos")
nuke.pluginAddPath("./icons")
nuke.pluginAddPath("./cattery")  # inkpaint_colorize.cat, for the InkpaintColorizeCattery gizmo

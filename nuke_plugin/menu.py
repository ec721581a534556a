# Inkpaint for Nuke: GUI only. Nodes menu > Inkpaint > Colorize (and the Cattery variant).
import nuke

_menu = nuke.menu("Nodes").addMenu("Inkpaint", icon="Inkpaint.png")
_menu.addCommand("Colorize", "nuke.createNode('InkpaintColorize')", icon="Inkpaint.png")
_menu.addCommand("Colorize (Cattery)", "nuke.createNode('InkpaintColorizeCattery')",
                 icon="Inkpaint.png")

"""A small fake of Nuke's ``nuke`` module for testing the Inkpaint adapter without Nuke.

The idea (after aws-deadline/deadline-cloud-for-nuke, which puts a stub in
``sys.modules["nuke"]``), taken further: instead of mocks that only record calls, nodes here
hold real knobs, inputs and groups, gizmos are built from their ``.gizmo`` files (so a knob
the gizmo does not define is an error), and ``execute`` on a Write node writes the real files
its input produces (Read, FrameHold, Colorspace, Copy, Expression, Switch, Inference, ...
compute real pixels, see ``pixels.py``). Everything the adapter makes is recorded:
``created`` (nodes), ``executed`` (Write renders), ``messages``, ``progress_tasks``, ``menus``.

Threads as in Nuke: the test's thread is Nuke's main thread. Touching nodes or knobs from
another thread raises (in Nuke it crashes or corrupts the script); other threads hand work to
the main thread with ``executeInMainThread`` / ``executeInMainThreadWithResult``, which
``main_loop`` (the GUI's event loop) runs. Every main-thread call (a button's script, each
handed-over callable) is timed into ``main_thread_calls``: a test reads how long the UI was
blocked at most.

Only what the adapter and its gizmos use is here. ``reset()`` starts a fresh session.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
import types
from collections import OrderedDict

import nkscript
import nuke_pixels as pixels
import numpy as np

NUKE_VERSION_MAJOR = 15
NUKE_VERSION_MINOR = 1
NUKE_VERSION_STRING = "15.1v1"
EXE_PATH = "/opt/Nuke15.1v1/Nuke15.1"
env = {"gui": False, "NukeVersionMajor": NUKE_VERSION_MAJOR}

# Values Nuke's legacy colour management offers for colour-space knobs (the fake converts
# only linear and sRGB; the others exist so a gizmo may name them).
COLORSPACES = ("default", "linear", "sRGB", "rec709", "Cineon", "Gamma1.8", "Gamma2.2",
               "Gamma2.4", "Panalog", "REDLog", "ViperLog", "AlexaV3LogC", "PLogLin", "SLog",
               "SLog1", "SLog2", "SLog3", "CLog", "Log3G10", "Log3G12", "HybridLogGamma",
               "Protune", "BT1886", "st2084", "raw")

KNOB_TYPES = {1: "String_Knob", 2: "File_Knob", 3: "Int_Knob", 4: "Enumeration_Knob",
              6: "Boolean_Knob", 7: "Double_Knob", 20: "Tab_Knob", 22: "PyScript_Knob",
              26: "Text_Knob", 41: "Link_Knob"}

_COMMON = OrderedDict([
    ("name", ("String_Knob", "")), ("xpos", ("Int_Knob", 0)), ("ypos", ("Int_Knob", 0)),
    ("label", ("String_Knob", "")), ("disable", ("Boolean_Knob", False)),
    ("tile_color", ("Int_Knob", 0)), ("selected", ("Boolean_Knob", False)),
    ("help", ("String_Knob", "")), ("knobChanged", ("String_Knob", "")),
    ("onCreate", ("String_Knob", "")), ("onDestroy", ("String_Knob", "")),
])
_S, _F, _I, _B, _E, _P = ("String_Knob", "File_Knob", "Int_Knob", "Boolean_Knob",
                          "Enumeration_Knob", "PyScript_Knob")
# The knobs of the built-in classes the adapter and gizmos use (name: (type, default)).
CLASSES = {
    "Root": {"first_frame": (_I, 1), "last_frame": (_I, 100), "frame": (_I, 1),
             "colorManagement": (_S, "Nuke"), "OCIO_config": (_S, "nuke-default"),
             "customOCIOConfigPath": (_F, ""), "workingSpaceLUT": (_S, "linear"),
             "format": (_S, "HD_1080"), "fps": (_I, 24)},
    "Read": {"file": (_F, ""), "first": (_I, 1), "last": (_I, 1), "origfirst": (_I, 1),
             "origlast": (_I, 1), "origset": (_B, False), "raw": (_B, False),
             "colorspace": (_E, "default"), "before": (_S, "hold"), "after": (_S, "hold"),
             "on_error": (_S, "error"), "reload": (_P, ""), "premultiplied": (_B, False),
             "format": (_S, "")},
    "Write": {"file": (_F, ""), "file_type": (_S, ""), "datatype": (_S, "8 bit"),
              "channels": (_S, "rgb"), "raw": (_B, False), "colorspace": (_E, "default"),
              "create_directories": (_B, False), "compression": (_S, "Zip (1 scanline)")},
    "Input": {"number": (_I, 0)},
    "Output": {},
    "Dot": {},
    "FrameHold": {"first_frame": (_I, 0), "increment": (_I, 0)},
    "Colorspace": {"channels": (_S, "rgb"), "colorspace_in": (_E, "linear"),
                   "colorspace_out": (_E, "linear")},
    "OCIOColorSpace": {"channels": (_S, "rgb"), "in_colorspace": (_E, "scene_linear"),
                       "out_colorspace": (_E, "scene_linear")},
    "Expression": dict([(f"expr{i}", (_S, "")) for i in range(4)]
                       + [(f"channel{i}", (_S, c)) for i, c in enumerate(pixels.RGBA)]),
    "Unpremult": {"channels": (_S, "rgb"), "alpha": (_S, "rgba.alpha")},
    "Premult": {"channels": (_S, "rgb"), "alpha": (_S, "rgba.alpha")},
    "Switch": {"which": (_I, 0)},
    "Copy": dict([(f"from{i}", (_S, "none")) for i in range(4)]
                 + [(f"to{i}", (_S, "none")) for i in range(4)]),
    "Remove": {"operation": (_S, "remove"), "channels": (_S, "none")},
    "Reformat": {"type": (_S, "to format"), "format": (_S, ""), "box_width": (_I, 0),
                 "box_height": (_I, 0), "box_fixed": (_B, False), "resize": (_S, "width"),
                 "center": (_B, True)},
    "Inference": {"modelFile": (_F, ""), "useGPUIfAvailable": (_B, True)},
    "Group": {},
}
_ENUMS = {("Read", "colorspace"): COLORSPACES, ("Write", "colorspace"): COLORSPACES,
          ("Colorspace", "colorspace_in"): COLORSPACES,
          ("Colorspace", "colorspace_out"): COLORSPACES,
          # OCIOColorSpace offers the colour spaces and roles of the script's OCIO config
          ("OCIOColorSpace", "in_colorspace"): lambda: pixels.ocio_names(_ocio_config()),
          ("OCIOColorSpace", "out_colorspace"): lambda: pixels.ocio_names(_ocio_config())}


def _ocio_config():
    """The script's OCIO config; Nuke's legacy colour management uses nuke-default."""
    r = root()
    if r is None or r["colorManagement"].value() != "OCIO":
        return "nuke-default"
    return r["OCIO_config"].value()
_SOURCES = {"Input", "Read", "Root"}  # classes whose default input count is 0
_MAX_INPUTS = {"Input": 0, "Read": 0, "Copy": 2, "Switch": 2, "Output": 1}

# ---- session state ---------------------------------------------------------------------------

_plugin_paths: list[str] = []
_root = None
_context: list = []
_this: list = []  # (node, knob) of the running callback
_loading = [False]
created: list = []
executed: list = []
main_thread_calls: list = []  # (what, seconds) of every call the main thread ran
_main_queue: queue.Queue = queue.Queue()
messages: list = []
warnings: list = []
progress_tasks: list = []
menus: dict = {}
saved_scripts: list = []


def load_cat(node, channels_in, channels_out, knobs):
    """What loading a .cat does to an Inference node: its channels, and one knob per custom
    knob CatFileCreator declared (``{name: (Knob class, default)}``), driving the model
    attribute of the same name."""
    node.channels_in, node.channels_out = tuple(channels_in), tuple(channels_out)
    for name, (type_name, default) in knobs.items():
        node.addKnob(Knob(name, type_name, default))
        node.cat_knobs.append(name)


def reset():
    """A fresh session: an empty script, no plugin paths, nothing recorded."""
    global _root
    _plugin_paths.clear()
    del _context[:], _this[:], created[:], executed[:], messages[:], warnings[:]
    del progress_tasks[:], saved_scripts[:], main_thread_calls[:]
    while not _main_queue.empty():
        _main_queue.get_nowait()
    menus.clear()
    _root = Root()
    _context.append(_root)


# ---- knobs -----------------------------------------------------------------------------------


class Knob:
    def __init__(self, name, type_name="String_Knob", value=None, label="", tooltip="",
                 flags=(), menu=(), text=""):
        self._name, self._type, self._label, self._tooltip = name, type_name, label, tooltip
        self._flags, self._menu, self._text = list(flags), list(menu), text
        self._expr = None
        self._node = None
        self._enabled = True
        if value is None:
            value = self._menu[0] if type_name == "Enumeration_Knob" and self._menu \
                else _default(type_name)
        self._value = self._coerce(value)

    def name(self):
        return self._name

    def label(self):
        return self._label

    def tooltip(self):
        return self._tooltip

    def Class(self):  # noqa: N802 (Nuke's name)
        return self._type

    def node(self):
        return self._node

    def flags(self):
        return list(self._flags)

    def values(self):
        return list(self._menu)

    def enabled(self):
        return self._enabled

    def setEnabled(self, on):  # noqa: N802
        self._enabled = bool(on)

    def visible(self):
        return "+INVISIBLE" not in self._flags

    def _coerce(self, v):
        t = self._type
        if t == "Int_Knob":
            if isinstance(v, str) and v.strip().lower().startswith("0x"):
                return int(v, 16)  # tile_color 0xd9883aff
            return int(float(v)) if not isinstance(v, bool) else int(v)
        if t == "Double_Knob":
            return float(v)
        if t == "Boolean_Knob":
            return v.strip().lower() in ("true", "1") if isinstance(v, str) else bool(v)
        if t == "Enumeration_Knob":
            if isinstance(v, (int, float)) and not isinstance(v, bool) and self._menu:
                return self._menu[int(v)]
            options = self._menu or _ENUMS.get((self._node_class(), self._name))
            if callable(options):
                options = options()
            if options and str(v) not in options:
                raise ValueError(f"{self._name}: {v!r} is not one of {list(options)}")
            return str(v)
        return "" if v is None else str(v)

    def _node_class(self):
        return self._node.Class() if self._node is not None else None

    def value(self):
        if self._type == "Link_Knob":
            return self._target().value()
        if self._expr is not None:
            return self._coerce(_expression(self._expr, self._node))
        if self._type == "Text_Knob":
            return self._text if self._value == "" else self._value
        if self._type == "PyScript_Knob":
            return self._text
        return self._value

    getValue = value

    def setValue(self, v):  # noqa: N802
        _main_only("setValue")
        if self._type == "Link_Knob":
            return self._target().setValue(v)
        self._value = self._coerce(v)
        self._expr = None
        _knob_changed(self)
        return True

    def fromScript(self, text):  # noqa: N802
        if self._type == "Link_Knob":
            return self._target().fromScript(text)
        if self._type in ("PyScript_Knob",):
            self._text = text
            return True
        self._value = self._coerce(text)
        return True

    def setExpression(self, expr):  # noqa: N802
        self._expr = expr
        return True

    def hasExpression(self):  # noqa: N802
        return self._expr is not None

    def evaluate(self):
        """String and file knobs: the value with its Tcl ([value ...]) substituted."""
        return _tcl(str(self.value()), self._node)

    def execute(self):
        """PyScript knobs: run the script as Nuke does, with thisNode() set."""
        if self._name == "reload" and self._node.Class() == "Read":
            self._node._reloads += 1  # Read's reload button: re-read the files
        elif self._type == "PyScript_Knob":
            _timed(f"{self._node.name()}.{self._name}", _run_python, self.value(), self._node,
                   self)

    def _target(self):
        node_name, _, knob_name = self._text.rpartition(".")
        with self._node:
            target = toNode(node_name)
        if target is None or knob_name not in target.knobs():
            raise ValueError(f"Link_Knob {self._name}: no knob {self._text}")
        return target[knob_name]


def _default(type_name):
    return {"Int_Knob": 0, "Double_Knob": 0.0, "Boolean_Knob": False}.get(type_name, "")


def _add_knob(node, knob):
    knob._node = node
    node._knobs[knob.name()] = knob
    # an Enumeration built before it knew its node: check its value now
    knob._value = knob._coerce(knob._value)


# ---- nodes -----------------------------------------------------------------------------------


class FrameRange:
    def __init__(self, first, last):
        self._first, self._last = int(first), int(last)

    def first(self):
        return self._first

    def last(self):
        return self._last

    def frames(self):
        return self._last - self._first + 1

    def __repr__(self):
        return f"{self._first}-{self._last}"


class Node:
    def __init__(self, cls, group=None):
        self._class = cls
        self._group = group
        self._inputs: list = []
        self._knobs: OrderedDict = OrderedDict()
        self._reloads = 0
        # Inference: what the .cat declares (CatFileCreator's channels and custom knobs)
        self.channels_in = self.channels_out = None
        self.cat_knobs: list = []
        for name, (t, d) in list(_COMMON.items()) + list(CLASSES.get(cls, {}).items()):
            _add_knob(self, Knob(name, t, d))

    # identity
    def Class(self):  # noqa: N802
        return self._class

    def name(self):
        return self._knobs["name"].value()

    def setName(self, name):  # noqa: N802
        self._knobs["name"].setValue(name)

    def fullName(self):  # noqa: N802
        if self._group is None or isinstance(self._group, Root):
            return self.name()
        return self._group.fullName() + "." + self.name()

    def __repr__(self):
        return f"<{self._class} {self.fullName()}>"

    # knobs
    def knobs(self):
        return OrderedDict(self._knobs)

    def knob(self, name):
        return self._knobs.get(name)

    def __getitem__(self, name):
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist on {self.fullName()}")
        return self._knobs[name]

    def addKnob(self, knob):  # noqa: N802
        _add_knob(self, knob)

    # inputs
    def input(self, i):
        return self._inputs[i] if i < len(self._inputs) else None

    def inputs(self):
        return len(self._inputs)

    def setInput(self, i, node):  # noqa: N802
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()
        return True

    def dependent(self):
        return [n for n in allNodes(group=self._group) if self in n._inputs]

    # images
    def image(self, frame):
        return _evaluate(self, int(frame))

    def channels(self):
        return sorted(self.image(_frame()).keys())

    def width(self):
        return self.image(_frame()).shape[1]

    def height(self):
        return self.image(_frame()).shape[0]

    def frameRange(self):  # noqa: N802
        if self._class == "Read":
            return FrameRange(self["first"].value(), self["last"].value())
        if self._class == "Input":
            src = self._group.input(self["number"].value()) if self._group else None
            if src is not None:
                return src.frameRange()
        if isinstance(self, Group) and self.output() is not None:
            return self.output().frameRange()
        if self.input(0) is not None:
            return self.input(0).frameRange()
        return FrameRange(root()["first_frame"].value(), root()["last_frame"].value())

    # groups
    def __enter__(self):
        _context.append(self)
        return self

    def __exit__(self, *exc):
        _context.pop()
        return False

    def begin(self):
        _context.append(self)

    def end(self):
        _context.pop()


class Group(Node):
    def __init__(self, cls="Group", group=None):
        super().__init__(cls, group)
        self.nodes_: list = []
        self.gizmo_file = None

    def nodes(self):
        return list(self.nodes_)

    def output(self):
        return next((n for n in self.nodes_ if n.Class() == "Output"), None)


class Root(Group):
    def __init__(self):
        super().__init__("Root", None)
        self._knobs["name"]._value = ""

    def fullName(self):  # noqa: N802
        return "root"


def _frame():
    return root()["frame"].value()


# ---- creating nodes --------------------------------------------------------------------------


def _current():
    return _context[-1]


def _new_node(cls, group=None):
    _main_only("creating a node")
    group = group or _current()
    if cls in CLASSES:
        node = Group(cls, group) if cls == "Group" else Node(cls, group)
    else:
        node = _load_gizmo(cls, group)
    if not node.name():
        node._knobs["name"]._value = _unique_name(group, cls)
    group.nodes_.append(node)
    created.append(node)
    return node


def _unique_name(group, cls):
    used = {n.name() for n in group.nodes_}
    i = 1
    while f"{cls}{i}" in used:
        i += 1
    return f"{cls}{i}"


class _NodeFactory:
    """``nuke.nodes.Write(file=..., ...)``: create in the current group, unconnected."""

    def __getattr__(self, cls):
        def make(**knobs):
            node = _new_node(cls)
            for k, v in knobs.items():
                node[k].setValue(v)
            _run_callback(node, "onCreate")
            return node
        return make


nodes = _NodeFactory()


def createNode(cls, knobs="", inpanel=True):  # noqa: N802
    """Like Nuke: a built-in class, else ``<cls>.gizmo`` from the plugin path."""
    node = _new_node(cls)
    if knobs:
        block = nkscript.parse_block(cls, knobs, 0)
        _apply_knobs(node, block)
    _run_callback(node, "onCreate")
    return node


def delete(node):
    _main_only("delete")
    group = node._group
    group.nodes_.remove(node)
    for n in group.nodes_:
        n._inputs = [None if i is node else i for i in n._inputs]


def toNode(name):  # noqa: N802
    parts = name.split(".")
    if parts[0] == "root":
        group, parts = root(), parts[1:]
    else:
        group = _current()
    node = group
    for part in parts:
        if not isinstance(node, Group):
            return None
        node = next((n for n in node.nodes_ if n.name() == part), None)
        if node is None:
            return None
    return node


def allNodes(filter=None, group=None, recurseGroups=False):  # noqa: N802, A002
    group = group or _current()
    out = []
    for n in group.nodes_:
        if filter is None or n.Class() == filter:
            out.append(n)
        if recurseGroups and isinstance(n, Group):
            out += allNodes(filter, n, True)
    return out


def root():
    return _root


def thisNode():  # noqa: N802
    return _this[-1][0] if _this else None


def thisKnob():  # noqa: N802
    return _this[-1][1] if _this else None


def thisGroup():  # noqa: N802
    return _current()


def frame():
    return _frame()


# ---- gizmos and scripts ----------------------------------------------------------------------


def pluginAddPath(path):  # noqa: N802
    """Relative paths are relative to the init.py being run (``_init_dir``)."""
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(_init_dir[0], path))
    if path not in _plugin_paths:
        _plugin_paths.insert(0, path)


_init_dir = [os.getcwd()]


def pluginPath():  # noqa: N802
    return list(_plugin_paths)


def run_init(plugin_dir, gui=False):
    """What Nuke does at start-up with a NUKE_PATH folder: init.py, then menu.py (GUI)."""
    _init_dir[0] = plugin_dir
    for name in ("init.py", "menu.py") if gui else ("init.py",):
        path = os.path.join(plugin_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                exec(compile(f.read(), path, "exec"), {"__name__": "__main__"})


def gizmo_path(cls):
    for p in _plugin_paths:
        path = os.path.join(p, cls + ".gizmo")
        if os.path.isfile(path):
            return path
    return None


def _load_gizmo(cls, group):
    path = gizmo_path(cls)
    if path is None:
        raise RuntimeError(f"{cls}: unknown command (no built-in class or {cls}.gizmo on the "
                           f"plugin path)")
    with open(path, encoding="utf-8") as f:
        ops = nkscript.parse(f.read())
    if not ops or ops[0].kind != "node" or ops[0].block.cls != "Gizmo":
        raise nkscript.ScriptError(f"{path}: does not start with a Gizmo block")
    if ops[-1].kind != "end_group":
        raise nkscript.ScriptError(f"{path}: does not end with end_group")
    gizmo = Group(cls, group)
    gizmo.gizmo_file = path
    _loading[0] = True
    try:
        _apply_knobs(gizmo, ops[0].block)
        _context.append(gizmo)
        try:
            _interpret(ops[1:-1], gizmo)
        finally:
            _context.pop()
    finally:
        _loading[0] = False
    return gizmo


def _apply_knobs(node, block):
    for name, word in block.knobs:
        if name == "inputs":
            continue
        if name == "addUserKnob":
            spec = nkscript.parse_user_knob(nkscript.split_commands(word.text)[0].words)
            type_name = KNOB_TYPES.get(spec.type_id)
            if type_name is None:
                raise nkscript.ScriptError(f"addUserKnob {spec.name}: unknown type "
                                           f"{spec.type_id}")
            _add_knob(node, Knob(spec.name, type_name, label=spec.label, tooltip=spec.tooltip,
                                 flags=spec.flags, menu=spec.menu, text=spec.text))
            continue
        if name not in node._knobs:
            raise nkscript.ScriptError(f"line {block.line}: {node.Class()} has no knob "
                                       f"{name!r}")
        knob = node._knobs[name]
        text = word.text.strip()
        if word.braced and text.startswith("{") and text.endswith("}"):
            knob.setExpression(text[1:-1].strip())
        else:
            knob.fromScript(word.text)


def _interpret(ops, group):
    stack: list = []
    names: dict = {}
    groups = [(group, stack)]
    for op in ops:
        group, stack = groups[-1]
        if op.kind == "set":
            names[op.arg] = stack[-1]
        elif op.kind == "push":
            stack.append(None if op.arg == "0" else names[op.arg.lstrip("$")])
        elif op.kind == "end_group":
            inner, _ = groups.pop()
            _context.pop()
            groups[-1][1].append(inner)
        elif op.block.cls == "Root":
            _apply_knobs(root(), op.block)
        else:
            block = op.block
            n_inputs = next((int(w.text) for k, w in block.knobs if k == "inputs"),
                            0 if block.cls in _SOURCES else 1)
            node = _new_node(block.cls, group)
            _apply_knobs(node, block)
            for i in range(n_inputs):
                node.setInput(i, stack.pop() if stack else None)
            if block.cls == "Group":
                _context.append(node)
                groups.append((node, []))
            else:
                stack.append(node)
            if not _loading[0]:
                _run_callback(node, "onCreate")


def scriptOpen(path):  # noqa: N802
    scriptClear()
    with open(path, encoding="utf-8") as f:
        ops = nkscript.parse(f.read())
    _interpret(ops, root())
    root()["name"].setValue(os.path.abspath(path))


def scriptClear():  # noqa: N802
    global _root
    _root = Root()
    del _context[:]
    _context.append(_root)


def scriptSave(path=None):  # noqa: N802
    """Write the script as Nuke would (root knobs, then each node with the stack ops that
    connect it); gizmo internals are not written, as in Nuke."""
    path = path or root()["name"].value()
    if not path:
        raise RuntimeError("scriptSave: the script has no name")
    lines = ["version 15.1 v1", "Root {", " inputs 0"]
    for name in ("first_frame", "last_frame", "colorManagement", "OCIO_config",
                 "workingSpaceLUT"):
        lines.append(f" {name} {_quote(root()[name].value())}")
    lines.append("}")
    for node in _topological(root().nodes_):
        inputs = node._inputs
        for src in reversed(inputs):
            lines.append("push 0" if src is None else f"push $N{id(src):x}")
        lines.append(f"{node.Class()} {{")
        if inputs or node.Class() in _SOURCES:
            lines.append(f" inputs {len(inputs)}")
        for name, knob in node._knobs.items():
            if knob.Class() in ("Tab_Knob", "PyScript_Knob", "Text_Knob", "Link_Knob"):
                continue
            if knob._expr is not None:
                lines.append(f" {name} {{{{{knob._expr}}}}}")
            elif name in ("knobChanged", "onCreate", "help", "tile_color") and \
                    getattr(node, "gizmo_file", None):
                continue
            elif knob._value != _default(knob.Class()) or name == "name":
                lines.append(f" {name} {_quote(knob._value)}")
        lines.append("}")
        lines.append(f"set N{id(node):x} [stack 0]")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    root()["name"].setValue(os.path.abspath(path))
    saved_scripts.append(path)


def _quote(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    s = str(v)
    if s and re.match(r"^[A-Za-z0-9_./:+-]+$", s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[") \
        .replace("\n", "\\n") + '"'


def _topological(items):
    done, order = set(), []

    def visit(n):
        if id(n) in done:
            return
        done.add(id(n))
        for src in n._inputs:
            if src is not None and src in items:
                visit(src)
        order.append(n)

    for n in items:
        visit(n)
    return order


# ---- callbacks -------------------------------------------------------------------------------


def _run_python(script, node, knob=None):
    _this.append((node, knob))
    try:
        exec(compile(script, f"<{node.fullName()} python>", "exec"), {"nuke": _module()})
    finally:
        _this.pop()


def _run_callback(node, name):
    script = node._knobs[name].value() if name in node._knobs else ""
    if script:
        _run_python(script, node, node._knobs[name] if name == "knobChanged" else None)


def _knob_changed(knob):
    node = knob._node
    if node is None or _loading[0] or not node._knobs.get("knobChanged"):
        return
    script = node._knobs["knobChanged"]._value
    if script and knob.name() not in ("knobChanged", "xpos", "ypos", "selected"):
        _run_python(script, node, knob)


def _module():
    import sys

    return sys.modules[__name__]


# ---- expressions -----------------------------------------------------------------------------


class _Ref:
    """``parent.knob``, ``Node.knob``, ``Node.width`` in a {{...}} expression."""

    def __init__(self, node):
        self._node = node

    def __getattr__(self, name):
        if name in ("width", "height"):
            return getattr(self._node, name)()
        if name in self._node._knobs:
            v = self._node._knobs[name].value()
            return int(v) if isinstance(v, bool) else v
        raise NameError(f"{self._node.fullName()} has no knob {name}")


def _resolve(name, node):
    if name == "parent":
        return _Ref(node._group)
    if name == "root":
        return _Ref(root())
    if name == "frame":
        return _frame()
    if name in ("true", "false"):
        return name == "true"
    group = node._group or root()
    target = next((n for n in group.nodes_ if n.name() == name), None)
    if target is not None:
        return _Ref(target)
    if name in node._knobs:
        v = node._knobs[name].value()
        return int(v) if isinstance(v, bool) else v
    raise NameError(f"expression name {name!r} on {node.fullName()}")


class _Names(dict):
    def __init__(self, node):
        super().__init__()
        self._node = node

    def __missing__(self, name):
        return _resolve(name, self._node)


def _expression(expr, node):
    return eval(expr, {"__builtins__": {}}, _Names(node))  # noqa: S307 (test-only)


def _tcl(text, node):
    """Substitute the Tcl commands the gizmos use: value, plugins -all, lsearch -inline."""
    pattern = re.compile(r"\[([^\[\]]*)\]")
    while True:
        m = pattern.search(text)
        if m is None:
            return text
        words = m.group(1).split()
        if words[:1] == ["value"] and len(words) == 2:
            path = words[1]
            owner, _, knob = path.rpartition(".")
            target = node
            for part in owner.split(".") if owner else []:
                target = target._group if part == "parent" else (
                    root() if part == "root" else toNode(part))
            result = str(target[knob].value())
        elif words[:2] == ["plugins", "-all"] and len(words) == 3:
            result = " ".join(pixels.plugins_matching(_plugin_paths, words[2]))
        elif words[:2] == ["lsearch", "-inline"] and len(words) >= 3:
            result = pixels.lsearch_inline(words[2:-1], words[-1])
        else:
            raise NotImplementedError(f"fake nuke: Tcl [{m.group(1)}]")
        text = text[: m.start()] + result + text[m.end():]


# ---- rendering -------------------------------------------------------------------------------


def _evaluate(node, frame):
    cls = node._class
    k = node._knobs
    if k["disable"].value():
        return node.input(0).image(frame)
    if isinstance(node, Group) and cls != "Root":
        out = node.output()
        if out is None:
            raise RuntimeError(f"{node.fullName()}: no Output node")
        return out.image(frame)
    if cls == "Input":
        src = node._group.input(k["number"].value())
        if src is None:
            raise RuntimeError(f"{node.fullName()}: input {k['number'].value()} is not "
                               f"connected")
        return src.image(frame)
    if cls in ("Output", "Dot", "Write"):
        return node.input(0).image(frame)
    if cls == "Read":
        return _read(node, frame)
    if cls == "FrameHold":
        return node.input(0).image(k["first_frame"].value())
    if cls == "Switch":
        which = max(0, min(int(k["which"].value()), len(node._inputs) - 1))
        return node.input(which).image(frame)
    img = node.input(0).image(frame).copy() if node.input(0) is not None else None
    if cls == "Colorspace":
        chans = pixels.channel_set(k["channels"].value(), img)
        rgb = np.stack([img.get_channel(c) for c in chans], axis=2)
        rgb = pixels.convert(rgb, k["colorspace_in"].value(), k["colorspace_out"].value())
        for i, c in enumerate(chans):
            img[c] = np.ascontiguousarray(rgb[..., i])
        return img
    if cls == "OCIOColorSpace":
        chans = pixels.channel_set(k["channels"].value(), img)
        rgb = np.stack([img.get_channel(c) for c in chans], axis=2)
        rgb = pixels.ocio_convert(rgb, _ocio_config(), k["in_colorspace"].value(),
                                  k["out_colorspace"].value())
        for i, c in enumerate(chans):
            img[c] = np.ascontiguousarray(rgb[..., i])
        return img
    if cls == "Expression":
        env_ = {"r": img.get_channel("r"), "g": img.get_channel("g"),
                "b": img.get_channel("b"), "a": img.get_channel("a"),
                "min": _nuke_min, "max": _nuke_max}
        results = {}
        for i in range(4):
            expr = k[f"expr{i}"].value().strip()
            if expr:
                value = eval(expr, {"__builtins__": {}}, env_)  # noqa: S307 (test-only)
                results[k[f"channel{i}"].value()] = np.broadcast_to(
                    np.asarray(value, np.float32), img.shape).copy()
        img.update(results)
        return img
    if cls in ("Unpremult", "Premult"):
        a = img.get_channel(k["alpha"].value())
        for c in pixels.channel_set(k["channels"].value(), img):
            if cls == "Premult":
                img[c] = img.get_channel(c) * a
            else:
                img[c] = np.where(a > 0, img.get_channel(c) / np.where(a > 0, a, 1),
                                  img.get_channel(c)).astype(np.float32)
        return img
    if cls == "Copy":
        a_img = node.input(1).image(frame)
        for i in range(4):
            src, dst = k[f"from{i}"].value(), k[f"to{i}"].value()
            if src != "none" and dst != "none":
                img[pixels.SHORT.get(dst, dst)] = a_img.get_channel(src).copy()
        return img
    if cls == "Remove":
        chans = set(pixels.channel_set(k["channels"].value(), img))
        keep = k["operation"].value() == "keep"
        return pixels.Image(img.shape, {c: v for c, v in img.items() if (c in chans) == keep})
    if cls == "Reformat":
        box = (int(k["box_height"].value()), int(k["box_width"].value()))
        if k["type"].value() != "to box" or k["resize"].value() != "none":
            raise NotImplementedError("fake nuke: Reformat other than 'to box', resize none")
        if box != img.shape:
            raise NotImplementedError(f"fake nuke: Reformat {img.shape} -> {box}")
        return img
    if cls == "Inference":
        model = k["modelFile"].evaluate()
        attrs = {name: k[name].value() for name in node.cat_knobs}
        return pixels.inference(img, model, node.channels_in, node.channels_out, attrs)
    raise NotImplementedError(f"fake nuke: rendering {cls}")


def _nuke_min(*args):
    out = args[0]
    for a in args[1:]:
        out = np.minimum(out, a)
    return out


def _nuke_max(*args):
    out = args[0]
    for a in args[1:]:
        out = np.maximum(out, a)
    return out


def _read(node, frame):
    k = node._knobs
    pattern = k["file"].evaluate()
    first, last = int(k["first"].value()), int(k["last"].value())
    inside = first <= frame <= last
    path = pixels.frame_path(pattern, frame)
    if inside and os.path.isfile(path):
        return pixels.read_file(path, k["raw"].value(), k["colorspace"].value())
    mode = k["on_error"].value() if inside else k["before" if frame < first else "after"].value()
    if mode == "hold" and not inside:
        return _read(node, min(max(frame, first), last))
    if mode != "black":
        raise RuntimeError(f"{node.fullName()}: {path} does not exist")
    for f in range(first, last + 1):  # black at the sequence's size
        p = pixels.frame_path(pattern, f)
        if os.path.isfile(p):
            shape = pixels.read_file(p, True, "raw").shape
            return pixels.Image(shape, {c: np.zeros(shape, np.float32) for c in pixels.RGBA})
    raise RuntimeError(f"{node.fullName()}: no frames of {pattern}")


def execute(node, start, end=None, incr=1, views=None, continueOnError=False):  # noqa: N803
    """Render a Write node: its input's real pixels, written to real files."""
    _main_only("execute")
    if isinstance(node, str):
        node = toNode(node)
    if node is None or node.Class() != "Write":
        raise RuntimeError(f"execute: {node!r} is not a Write node")
    end = start if end is None else end
    if node.input(0) is None:
        raise RuntimeError(f"{node.name()}: no input")
    k = node._knobs
    for f in range(int(start), int(end) + 1, int(incr)):
        image = node.input(0).image(f)
        path = pixels.frame_path(k["file"].evaluate(), f)
        pixels.write_file(image, path, k["file_type"].value(), k["channels"].value(),
                          k["datatype"].value(), k["raw"].value(), k["colorspace"].value(),
                          k["create_directories"].value())
    executed.append((node.name(), int(start), int(end), dict(
        (name, k[name].value()) for name in ("file", "file_type", "channels", "datatype",
                                              "raw", "colorspace")),
        node.input(0)))


# ---- threads --------------------------------------------------------------------------------


def _main_only(what):
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(f"nuke: {what} called from a thread other than the main thread; "
                           "use nuke.executeInMainThread")


def _timed(what, call, *args, **kwargs):
    start = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        main_thread_calls.append((what, time.perf_counter() - start))


def _name_of(call):
    return getattr(call, "__qualname__", None) or repr(call)


def executeInMainThread(call, args=(), kwargs=None):  # noqa: N802
    """Queue ``call`` for the main thread's event loop; returns at once."""
    if not isinstance(args, tuple):
        args = (args,)  # Nuke accepts a lone argument
    _main_queue.put((call, args, kwargs or {}, None))


def executeInMainThreadWithResult(call, args=(), kwargs=None):  # noqa: N802
    """Run ``call`` on the main thread and wait for its result (directly when called there)."""
    if not isinstance(args, tuple):
        args = (args,)
    if threading.current_thread() is threading.main_thread():
        return call(*args, **(kwargs or {}))
    box = {"done": threading.Event()}
    _main_queue.put((call, args, kwargs or {}, box))
    box["done"].wait()
    if "error" in box:
        raise box["error"]
    return box["result"]


def main_loop(until, timeout=600.0):
    """The GUI's event loop: run the queued main-thread calls, each timed, until ``until()``
    is true and nothing is queued (raises TimeoutError after ``timeout`` seconds)."""
    _main_only("main_loop")
    deadline = time.monotonic() + timeout
    while True:
        try:
            call, args, kwargs, box = _main_queue.get(timeout=0.005)
        except queue.Empty:
            if until():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("nuke.main_loop: the job did not finish") from None
            continue
        try:
            result = _timed(_name_of(call), call, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 (handed back to the waiting thread)
            if box is None:
                raise
            box["error"] = exc
        else:
            if box is not None:
                box["result"] = result
        if box is not None:
            box["done"].set()


# ---- UI --------------------------------------------------------------------------------------


class ProgressTask:
    """Records progress; ``cancel_after`` (set by a test) makes isCancelled() turn True
    after that many progress updates, as if the artist pressed Cancel."""

    cancel_after = None

    def __init__(self, title):
        self.title, self.progress, self.messages, self.updates = title, [], [], 0
        progress_tasks.append(self)

    def setProgress(self, i):  # noqa: N802
        if not isinstance(i, int):
            raise TypeError("setProgress takes an int")
        self.progress.append(i)
        self.updates += 1

    def setMessage(self, s):  # noqa: N802
        self.messages.append(s)

    def isCancelled(self):  # noqa: N802
        return ProgressTask.cancel_after is not None and self.updates >= ProgressTask.cancel_after


def message(text):
    messages.append(text)


def warning(text):
    warnings.append(text)


class Menu:
    def __init__(self, name, icon=None):
        self.name, self.icon, self.items = name, icon, OrderedDict()

    def addMenu(self, name, icon=None):  # noqa: N802
        sub = self.items.setdefault(name, Menu(name, icon))
        return sub

    def addCommand(self, name, command="", shortcut="", icon=None, **kw):  # noqa: N802
        self.items[name] = types.SimpleNamespace(name=name, command=command, icon=icon)
        return self.items[name]

    def findItem(self, path):  # noqa: N802
        item = self
        for part in path.split("/"):
            item = item.items.get(part) if isinstance(item, Menu) else None
            if item is None:
                return None
        return item


def menu(name):
    return menus.setdefault(name, Menu(name))


reset()

"""A reader for the subset of Nuke's script language (.nk, .gizmo) that Inkpaint's gizmos and
the fake's own saved scripts use: node blocks ``Class { knob value ... }``, ``addUserKnob``,
the node stack (``set N [stack 0]``, ``push $N``, ``push 0``), ``end_group``.

Words follow Tcl: ``{...}`` is literal (nested), ``"..."`` takes backslash escapes (``\\n``,
``\\"``, ``\\[``), anything else ends at whitespace. Unknown commands raise, so a typo in a
gizmo fails the tests instead of being skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "{": "{",
            "}": "}", "$": "$"}


class ScriptError(ValueError):
    pass


@dataclass
class Word:
    text: str
    braced: bool = False  # {...}: literal, may hold an expression ({{...}}) or a list


@dataclass
class Command:
    words: list[Word]
    line: int


@dataclass
class NodeBlock:
    cls: str
    knobs: list[tuple[str, Word]] = field(default_factory=list)
    user_knobs: list[list[Word]] = field(default_factory=list)
    line: int = 0


def _read_braced(src: str, i: int) -> tuple[str, int]:
    depth, start = 1, i + 1
    i += 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return src[start:i], i + 1
        i += 1
    raise ScriptError("unbalanced {")


def _read_quoted(src: str, i: int) -> tuple[str, int]:
    out = []
    i += 1
    while i < len(src):
        c = src[i]
        if c == "\\" and i + 1 < len(src):
            out.append(_ESCAPES.get(src[i + 1], src[i + 1]))
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise ScriptError('unbalanced "')


def split_commands(src: str) -> list[Command]:
    """Commands (lists of words), one per logical line; comments (#...) skipped."""
    commands: list[Command] = []
    words: list[Word] = []
    i, line = 0, 1
    start_line = 1
    while i < len(src):
        c = src[i]
        if c == "\n":
            if words:
                commands.append(Command(words, start_line))
                words = []
            line += 1
            i += 1
            continue
        if c in " \t\r;":
            i += 1
            continue
        if c == "#" and not words:
            while i < len(src) and src[i] != "\n":
                i += 1
            continue
        if not words:
            start_line = line
        if c == "{":
            text, j = _read_braced(src, i)
            words.append(Word(text, braced=True))
        elif c == '"':
            text, j = _read_quoted(src, i)
            words.append(Word(text))
        else:
            j = i
            while j < len(src) and src[j] not in " \t\r\n;":
                if src[j] == "[":  # [stack 0]
                    depth = 0
                    while j < len(src):
                        depth += src[j] == "["
                        depth -= src[j] == "]"
                        j += 1
                        if depth == 0:
                            break
                    continue
                j += 1
            words.append(Word(src[i:j]))
        line += src[i:j].count("\n")
        i = j
    if words:
        commands.append(Command(words, start_line))
    return commands


def parse_block(cls: str, body: str, line: int) -> NodeBlock:
    """The knobs of ``Class { body }`` in order; ``addUserKnob {...}`` kept apart."""
    block = NodeBlock(cls, line=line)
    for cmd in split_commands(body):
        words = cmd.words
        if words[0].text == "addUserKnob":
            if len(words) != 2 or not words[1].braced:
                raise ScriptError(f"line {line + cmd.line - 1}: addUserKnob needs {{...}}")
            block.user_knobs.append(split_commands(words[1].text)[0].words)
            block.knobs.append(("addUserKnob", words[1]))
            continue
        if len(words) != 2:
            raise ScriptError(f"line {line + cmd.line - 1}: knob line "
                              f"{' '.join(w.text for w in words)!r} is not 'name value'")
        block.knobs.append((words[0].text, words[1]))
    return block


@dataclass
class Op:
    """One step of a script: a node block, a stack operation or the end of a group."""

    kind: str  # node, set, push, end_group
    block: NodeBlock | None = None
    arg: str = ""


_CLASS = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_IGNORED = {"version", "define_window_layout_xml", "add_layer"}


def parse(src: str) -> list[Op]:
    ops: list[Op] = []
    for cmd in split_commands(src):
        head = cmd.words[0].text
        if head in _IGNORED:
            continue
        if head == "set" and len(cmd.words) == 3 and cmd.words[2].text == "[stack 0]":
            ops.append(Op("set", arg=cmd.words[1].text))
        elif head == "push" and len(cmd.words) == 2:
            ops.append(Op("push", arg=cmd.words[1].text))
        elif head == "end_group" and len(cmd.words) == 1:
            ops.append(Op("end_group"))
        elif _CLASS.match(head) and len(cmd.words) == 2 and cmd.words[1].braced:
            ops.append(Op("node", parse_block(head, cmd.words[1].text, cmd.line)))
        elif _CLASS.match(head) and len(cmd.words) == 1:
            ops.append(Op("node", NodeBlock(head, line=cmd.line)))
        else:
            raise ScriptError(f"line {cmd.line}: unsupported command "
                              f"{' '.join(w.text for w in cmd.words)!r}")
    return ops


# ---- addUserKnob ---------------------------------------------------------------------------


@dataclass
class UserKnobSpec:
    type_id: int
    name: str
    label: str = ""
    tooltip: str = ""
    flags: list[str] = field(default_factory=list)
    menu: list[str] = field(default_factory=list)
    text: str = ""  # T: Text_Knob text, PyScript_Knob script, Link_Knob target


def parse_user_knob(words: list[Word]) -> UserKnobSpec:
    spec = UserKnobSpec(int(words[0].text), words[1].text)
    i = 2
    while i < len(words):
        w = words[i].text
        if w == "R" and i + 2 < len(words):  # slider range: R min max
            i += 3
        elif w in ("l", "t", "T", "M") and i + 1 < len(words):
            value = words[i + 1]
            if w == "l":
                spec.label = value.text
            elif w == "t":
                spec.tooltip = value.text
            elif w == "T":
                spec.text = value.text
            elif w == "M":
                spec.menu = [x.text for x in split_commands(value.text)[0].words] \
                    if value.text.strip() else []
            i += 2
        elif w.startswith(("+", "-")):
            spec.flags.append(w)
            i += 1
        else:
            raise ScriptError(f"addUserKnob {spec.name}: unexpected {w!r}")
    return spec

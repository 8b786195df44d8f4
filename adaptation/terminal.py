"""Text from documents and databases made safe to print on a terminal.

File names, titles and chunk text come from the indexed folder (or a database someone else built):
an ESC or OSC sequence in them (``\\x1b]0;title\\x07``, ``\\x1b[2J``) would be obeyed by the terminal if
printed raw (retitle the window, clear the screen, forge lines or hyperlinks), and a bidi override
reorders what the reader sees. ``terminal_safe`` writes every C0/C1 control character, DEL and the
bidi controls as visible escapes (``\\x1b``, ``\\u202e``); everything else is printed as is.
"""
from __future__ import annotations

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_TABLE = {c: _NAMED.get(c, f"\\x{c:02x}") for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_TABLE.update({c: f"\\u{c:04x}" for c in _BIDI})


def terminal_safe(text: object) -> str:
    """``str(text)`` with control characters (C0, DEL, C1) and bidi controls written as escapes."""
    return str(text).translate(_TABLE)

r"""Sphinx markup a heading keeps after ``plain_title`` reduces roles, links and literals to their text.

CPython's docs title pages like ``:mod:`!contextlib` --- Utilities for :keyword:`!with`\ -statement
contexts``: ``!`` (no link) and ``~`` (last name only) prefix a role's target, and a backslash-space
joins words with nothing between them. Left in, the title reads "!contextlib — Utilities for !with\
-statement contexts"; a reader expects "contextlib — Utilities for with-statement contexts".
"""
from __future__ import annotations

import re

_ROLE_TARGET = re.compile(r"(:[\w.+-]+:`)([!~])([^`<]*)`")   # :mod:`!contextlib`, :func:`~os.path.join`
_ESCAPED_SPACE = re.compile(r"\\[ \t]")                         # reST: "\ " is nothing at all


def _target(match: re.Match) -> str:
    role, mark, target = match.groups()
    return f"{role}{target.rsplit('.', 1)[-1] if mark == '~' else target}`"


def sphinx_markup(title: str) -> str:
    """``title`` without role-target prefixes (``!``, ``~``) and escaped spaces; run before roles are reduced."""
    return _ESCAPED_SPACE.sub("", _ROLE_TARGET.sub(_target, title))

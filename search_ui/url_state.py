"""A page's widget state <-> the URL query string: every search is a link, and Back returns to the last one.

Streamlit pushes a browser-history entry whenever ``st.query_params`` changes, and reruns the script
with the old URL on Back/Forward. So each run: if the URL differs from what this session last wrote
(a shared link, or Back), the URL wins and is copied into the widgets' session state *before* the
widgets are created; after they are, the widgets' values are written back to the URL. Only values
that differ from their defaults appear in it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

WRITTEN = "_l2v_url_written"


@dataclass(frozen=True)
class Field:
    param: str          # name in the URL (short: links stay readable)
    key: str            # the widget's session-state key
    kind: type          # str | int | float | bool | list
    default: Any

    def decode(self, raw: str) -> Any:
        """The URL's text as a widget value; None when it does not parse (a hand-edited link)."""
        try:
            if self.kind is bool:
                return raw in ("1", "true", "yes")
            if self.kind is list:
                return [part for part in raw.split(",") if part]
            return self.kind(raw)
        except ValueError:
            return None

    def encode(self, value: Any) -> str:
        if self.kind is bool:
            return "1" if value else "0"
        if self.kind is list:
            return ",".join(str(v) for v in value)
        return str(value)


def from_url(params: Mapping[str, str], fields: list[Field]) -> dict[str, Any]:
    """Session values for ``fields``: the URL's where it has a valid one, else the default."""
    values = {}
    for f in fields:
        decoded = f.decode(params[f.param]) if f.param in params else None
        values[f.key] = f.default if decoded is None else decoded
    return values


def to_url(values: Mapping[str, Any], fields: list[Field]) -> dict[str, str]:
    """The URL parameters of the non-default values."""
    return {f.param: f.encode(values[f.key]) for f in fields
            if f.key in values and values[f.key] is not None and values[f.key] != f.default}


def _own(params: Mapping[str, str], names: list[str]) -> dict[str, str]:
    return {p: params[p] for p in names if p in params}


def url_changed(st, page: str, names: list[str]) -> bool:
    """True on a fresh session, a pasted link, or Back/Forward: this page's URL params are not what it wrote.

    Each page owns its params (``names``) and leaves the others' alone, so switching pages keeps every
    page's state in the URL (and in the session).
    """
    return st.session_state.get(WRITTEN + page) != _own(st.query_params.to_dict(), names)


def restore(st, fields: list[Field], changed: bool) -> None:
    """Before the widgets exist: copy the URL into their session state (when it changed), else set defaults."""
    values = from_url(st.query_params.to_dict(), fields)
    for f in fields:
        if changed or f.key not in st.session_state:
            st.session_state[f.key] = values[f.key]


def publish(st, page: str, fields: list[Field], names: list[str]) -> None:
    """After the widgets: this page's params (``names``) become its non-default values; others stay."""
    current = st.query_params.to_dict()
    wanted = {p: v for p, v in current.items() if p not in names}
    wanted.update(to_url({f.key: st.session_state.get(f.key) for f in fields}, fields))
    if wanted != current:
        st.query_params.from_dict(wanted)
    st.session_state[WRITTEN + page] = _own(wanted, names)

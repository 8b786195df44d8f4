"""How the app finds its database and the folder it may read: ``--db PATH`` / ``--root PATH`` after ``--``
on the streamlit command line, else $L2V_UI_DB / $L2V_UI_ROOT.

The root is the user's word, never the database's: a database records the folder it indexed, but a
copied or crafted one could name any folder (``/etc``), so documents are read only from a folder the
user passed (``l2v ui --root``) or confirmed, and only if the database's folder lies inside it.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

DB_ENV = "L2V_UI_DB"
REPORT_ENV = "L2V_UI_REPORT"
ROOT_ENV = "L2V_UI_ROOT"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db")
    parser.add_argument("--report")
    parser.add_argument("--root")
    return parser.parse_known_args(argv)[0]


def db_path(argv: list[str]) -> Path | None:
    value = parse_args(argv).db or os.environ.get(DB_ENV)
    return Path(value).expanduser() if value else None


def root_path(argv: list[str]) -> Path | None:
    """The folder the user allowed the UI to read documents from; None: show stored chunks only."""
    value = parse_args(argv).root or os.environ.get(ROOT_ENV)
    return Path(value).expanduser() if value else None


def report_path(argv: list[str], db: Path | None) -> Path | None:
    """An evaluation report to show: --report / $L2V_UI_REPORT, else DB/eval_report.json when present."""
    value = parse_args(argv).report or os.environ.get(REPORT_ENV)
    if value:
        return Path(value).expanduser()
    if db is not None and (db / "eval_report.json").is_file():
        return db / "eval_report.json"
    return None

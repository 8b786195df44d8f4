"""How the app finds its database: ``--db PATH`` after ``--`` on the streamlit command line, else $L2V_UI_DB."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

DB_ENV = "L2V_UI_DB"
REPORT_ENV = "L2V_UI_REPORT"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db")
    parser.add_argument("--report")
    return parser.parse_known_args(argv)[0]


def db_path(argv: list[str]) -> Path | None:
    value = parse_args(argv).db or os.environ.get(DB_ENV)
    return Path(value).expanduser() if value else None


def report_path(argv: list[str], db: Path | None) -> Path | None:
    """An evaluation report to show: --report / $L2V_UI_REPORT, else DB/eval_report.json when present."""
    value = parse_args(argv).report or os.environ.get(REPORT_ENV)
    if value:
        return Path(value).expanduser()
    if db is not None and (db / "eval_report.json").is_file():
        return db / "eval_report.json"
    return None

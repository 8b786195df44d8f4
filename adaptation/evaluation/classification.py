"""Classification: logistic regression on frozen embeddings, train split -> test split (as MTEB).

MTEB fits ``LogisticRegression(max_iter=100)`` ``n_experiments`` (10) times, each on
a seeded undersample of ``samples_per_label`` (8) training texts per label, and
averages accuracy (main) and macro-F1 on the test split. ``samples_per_label=0``
fits once on the whole training split instead.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .base import EvalSettings, TaskResult, embed
from .data import read_labelled, seeded_sample, split_file
from .errors import DataFormatError


@dataclass
class LabelledSplits:
    path: Path
    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]


def load(path: str | Path, split: str = "test", train_split: str = "train") -> LabelledSplits:
    path = Path(path)
    if not path.is_dir():
        raise DataFormatError(f"{path}: classification needs a folder with {train_split}.csv and {split}.csv "
                              "(columns text and label/category)")
    train = read_labelled(split_file(path, train_split))
    test = read_labelled(split_file(path, split))
    return LabelledSplits(path, *train, *test)


def undersample(labels: list[str], per_label: int, seed: int) -> np.ndarray:
    """Seeded indices with at most ``per_label`` of each label (MTEB's _undersample_data)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    taken: dict[str, int] = {}
    keep = []
    for i in order:
        if taken.get(labels[i], 0) < per_label:
            taken[labels[i]] = taken.get(labels[i], 0) + 1
            keep.append(i)
    return np.asarray(sorted(keep), dtype=np.int64)


def run(encoder, data: LabelledSplits, settings: EvalSettings, instruction: str) -> TaskResult:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    test_rows = seeded_sample(len(data.test_texts), settings.limit, settings.seed)
    if settings.samples_per_label > 0:
        experiments = [undersample(data.train_labels, settings.samples_per_label, settings.seed + i)
                       for i in range(settings.classification_experiments)]
    else:
        experiments = [np.arange(len(data.train_texts))]
    needed = np.unique(np.concatenate(experiments))  # embed each training text once
    train_vectors = embed(encoder, [data.train_texts[i] for i in needed], instruction, settings)
    position = {int(row): i for i, row in enumerate(needed)}
    test_vectors = embed(encoder, [data.test_texts[i] for i in test_rows], instruction, settings)
    y_test = np.asarray([data.test_labels[i] for i in test_rows])
    accuracies, f1s = [], []
    for number, rows in enumerate(experiments):
        model = LogisticRegression(max_iter=settings.max_iter, random_state=settings.seed + number)
        with warnings.catch_warnings():  # MTEB's max_iter=100 rarely converges fully; that is the protocol
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", message="The number of unique classes")  # tiny --limit runs
            model.fit(train_vectors[[position[int(r)] for r in rows]], [data.train_labels[r] for r in rows])
        predicted = model.predict(test_vectors)
        accuracies.append(metrics.accuracy(y_test, predicted))
        f1s.append(metrics.macro_f1(y_test, predicted))
    scores = {"accuracy": float(np.mean(accuracies)), "f1_macro": float(np.mean(f1s)),
              "accuracy_std": float(np.std(accuracies))}
    details = {"test_texts": int(len(test_rows)), "test_total": len(data.test_texts),
               "train_texts_embedded": int(len(needed)), "experiments": len(experiments),
               "samples_per_label": settings.samples_per_label, "labels": len(set(data.train_labels)),
               "instruction": instruction}
    return TaskResult("classification", "", "accuracy", scores["accuracy"], scores, details,
                      time.perf_counter() - start)

"""Sources: a folder -> the files to index (walk, filters, problems) -> their plain text (extract).

The first step of the data flow: folder -> documents -> chunks -> vectors -> FAISS + SQLite.
"""
from .extract import EXTRACTOR_VERSION, Extracted, Skip, extract
from .safe_open import open_inside
from .walk import FileEntry, Problem, Walker, glob_match, read_entry

__all__ = ["EXTRACTOR_VERSION", "Extracted", "FileEntry", "Problem", "Skip", "Walker", "extract", "glob_match",
           "open_inside", "read_entry"]

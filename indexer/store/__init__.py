"""Store: the SQLite side of a database directory and its file layout.

``database`` (engine in WAL mode, sessions, settings, the writer lock), ``migrations`` (frozen DDL),
``schema`` (ORM models), ``queries`` (filters, BM25, batched ``IN``), ``layout`` (file names, stale
file removal) and ``summary`` (``index.json``). Only the facade (``Index``, ``build_index``) and its
helpers use these; the UI never does.
"""

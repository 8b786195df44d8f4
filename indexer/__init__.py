"""Folder of documents -> chunks -> embeddings -> FAISS + SQLite, incremental and crash-safe."""

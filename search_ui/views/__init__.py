"""Streamlit pages: each module has ``render(idx, db)``; they call the indexer API and the pure helpers."""

"""Chunking: a document's text -> overlapping chunks measured in the encoder's own tokens.

``chunker`` cuts at the best boundary (paragraph, line, sentence, word) under the token budget;
``tokenizers`` holds the tokenizer that measures, saved in each database so every run chunks alike.
"""
from .chunker import ChunkingConfig, TextChunk, chunk_text
from .tokenizers import ChunkTokenizer, HFTokenizer, load_tokenizer

__all__ = ["ChunkTokenizer", "ChunkingConfig", "HFTokenizer", "TextChunk", "chunk_text", "load_tokenizer"]

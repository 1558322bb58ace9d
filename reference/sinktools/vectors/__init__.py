"""Golden vectors: their file format, their sources, and the checker."""

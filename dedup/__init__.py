"""Exact and MinHash-LSH near-duplicate detection: in-process and distributed on Ray."""

"""pytest suite, one test module per library module (shared helpers in helpers.py)."""

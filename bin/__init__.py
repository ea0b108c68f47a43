"""Command-line mains (absl): parse flags, call the library, say where results went."""

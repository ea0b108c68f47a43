"""Training: one loop core (strategy, checkpoints, summaries) and the programs built on it."""

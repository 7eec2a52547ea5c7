"""How onething runs: the embedded one-machine default and its settings."""

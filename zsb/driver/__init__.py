"""The papermill driver behind ``zsb reproduce``: ``reproduce`` (the chain of stages), ``notebooks`` (parameters
cells and execution), ``markers`` (which stage is up to date), ``preflight`` (checks before anything runs) and
``lock`` (one driver per run folder)."""

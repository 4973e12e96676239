"""The pipeline's stage layer: ``context`` (what a stage builds from a run's configuration) and ``stages`` (the
stages the notebooks call, one function each). Where a run's files live, and when they are reused, is
:mod:`zsb.artifacts`'s."""

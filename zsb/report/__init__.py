"""Reports: figures, the published results and the README table, comparison tables."""

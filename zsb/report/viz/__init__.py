"""Teaching figures: data samples, training curves, retrievals, t-SNE of the embedding space, ablations, the
class-oriented knowledge and per-class retrieval quality.

Every ``plot_*`` function returns its matplotlib :class:`~matplotlib.figure.Figure` (created with pyplot, so a
notebook shows it) and, when ``path`` is given, also saves it there as a PNG through :func:`save_figure`. No
function closes any figure: call ``plt.close(fig)`` when a figure is no longer needed (e.g. in a loop).
Styling (seaborn's white grid, readable font sizes) is applied per figure and never changes global settings.

One module per figure family: :mod:`~zsb.report.viz.images`, :mod:`~zsb.report.viz.training`,
:mod:`~zsb.report.viz.embedding`, :mod:`~zsb.report.viz.ablation`, :mod:`~zsb.report.viz.classes`; what they share
is :mod:`~zsb.report.viz.base`'s.
"""

from zsb.report.viz.ablation import plot_ablation, plot_ablation_gains, plot_gains_by_split
from zsb.report.viz.base import CORRECT_COLOR, DOMAIN_MARKERS, DPI, QUERY_COLOR, WRONG_COLOR, save_figure
from zsb.report.viz.classes import plot_class_knowledge, plot_per_class_ap
from zsb.report.viz.embedding import plot_tsne, tsne_embed
from zsb.report.viz.images import plot_retrieval, plot_sample_grid, plot_search
from zsb.report.viz.training import plot_loss_curves

__all__ = ["CORRECT_COLOR", "DOMAIN_MARKERS", "DPI", "QUERY_COLOR", "WRONG_COLOR", "plot_ablation",
           "plot_ablation_gains", "plot_class_knowledge", "plot_gains_by_split", "plot_loss_curves",
           "plot_per_class_ap", "plot_retrieval", "plot_sample_grid", "plot_search", "plot_tsne", "save_figure",
           "tsne_embed"]

"""The training curves: each loss term and the learning rate over the epochs."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zsb.report.viz.base import finish, style
from zsb.trainlog import log_frame, lr_columns


def plot_loss_curves(
    log: str | os.PathLike | Sequence[Mapping[str, Any]], path: str | os.PathLike | None = None
) -> Figure:
    """Training losses per epoch: one line per ``loss/...`` key (the total in bold black), and the learning
    rate(s) in a small panel below when the records have any: ``lr_backbone`` (what :func:`zsb.engine.train`
    logs), ``lr`` or any other ``lr_<group>`` key, one labelled line each.

    Args:
        log: a JSON-lines file (one JSON object per epoch, e.g. a run's ``train_log.jsonl``) or a list of dicts,
            each with ``epoch`` and loss keys such as ``loss/total``, ``loss/quadruplet``,
            ``loss/classification``, ``loss/knowledge``; read with :func:`zsb.trainlog.log_frame`.
        path: optional PNG file to save the figure to.
    """
    table = log_frame(log)
    loss_keys = [c for c in table.columns if str(c).startswith("loss/")]
    loss_keys.sort(key=lambda k: (k != "loss/total", k))
    lr_keys = lr_columns(table)
    epochs = table["epoch"].to_numpy()
    marker = "o" if len(epochs) <= 25 else None

    with style():
        if lr_keys:
            fig, (ax, ax_lr) = plt.subplots(
                2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.2}
            )
        else:
            fig, ax = plt.subplots(figsize=(8, 4.6))
        palette = sns.color_palette("tab10")
        for index, key in enumerate(loss_keys):
            total = key == "loss/total"
            ax.plot(
                epochs, table[key].to_numpy(dtype=float), label=key.removeprefix("loss/"), marker=marker,
                color="black" if total else palette[index % len(palette)], linewidth=2.8 if total else 1.6,
                markersize=6 if total else 4.5, zorder=3 if total else 2,
            )
        ax.set_ylabel("loss")
        ax.set_title("Training losses per epoch")
        ax.legend(title="loss term", frameon=True)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if lr_keys:
            lr_palette = ["0.35"] + list(sns.color_palette("Dark2"))
            all_lr = []
            for index, key in enumerate(lr_keys):
                lr = pd.to_numeric(table[key], errors="coerce").to_numpy(dtype=float)
                all_lr.append(lr)
                ax_lr.plot(epochs, lr, label=key, color=lr_palette[index % len(lr_palette)], marker=marker,
                           markersize=4, linewidth=1.4)
            lr = np.concatenate(all_lr)
            positive = lr[np.isfinite(lr) & (lr > 0)]
            if len(positive) and positive.max() > 10 * positive.min():
                ax_lr.set_yscale("log")
            else:
                ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            if lr_keys != ["lr"]:  # name the parameter group(s): the log's key, e.g. lr_backbone
                ax_lr.legend(fontsize="small", frameon=True)
            ax_lr.set_ylabel("learning\nrate")
            ax_lr.set_xlabel("epoch")
        else:
            ax.set_xlabel("epoch")
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    return finish(fig, path)

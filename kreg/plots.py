"""Figures the course draws: decision boundaries and cost curves (PNG, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from kreg.io import atomic_write

__all__ = [
    "cost_curves_figure",
    "decision_boundary_figure",
    "learning_curves_figure",
    "save_cost_curves",
    "save_decision_boundary",
    "reliability_figure",
    "save_learning_curves",
    "save_reliability",
    "save_run_curves",
]

# The course zooms on the football field this way.
FOOTBALL_XLIM = (-0.75, 0.40)
FOOTBALL_YLIM = (-0.75, 0.65)


def _figure(**kwargs):
    # A Figure with its own Agg canvas: no pyplot state, so a notebook's backend is untouched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _colors() -> list:
    import matplotlib

    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


def decision_boundary_figure(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    title: str = "",
    xlim: Sequence[float] | None = FOOTBALL_XLIM,
    ylim: Sequence[float] | None = FOOTBALL_YLIM,
    resolution: float = 0.01,
    points: str = "",
    accuracy: float | None = None,
):
    """A matplotlib figure of `predict`'s 0/1 regions over a grid with the points on top.

    Args:
        predict: maps `(n, 2)` points to `n` predictions (probabilities or 0/1;
            shaded at the 0.5 threshold).
        x: `(examples, 2)` points.
        y: their 0/1 labels.
        title: the figure title.
        xlim, ylim: plotted window; None fits the data with a margin of 1 as
            the course does.
        resolution: grid spacing.
        points: which set the points are (e.g. "training set"), for the title.
        accuracy: the model's accuracy on those points, for the title.
    """
    x = np.asarray(x)
    labels = np.asarray(y).reshape(-1)
    x_lo, x_hi = xlim if xlim is not None else (x[:, 0].min() - 1, x[:, 0].max() + 1)
    y_lo, y_hi = ylim if ylim is not None else (x[:, 1].min() - 1, x[:, 1].max() + 1)
    xx, yy = np.meshgrid(
        np.arange(x_lo, x_hi + resolution, resolution),
        np.arange(y_lo, y_hi + resolution, resolution),
    )
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    zz = (np.asarray(predict(grid)).reshape(-1) > 0.5).reshape(xx.shape)
    fig = _figure(figsize=(6, 5), dpi=100)
    ax = fig.subplots()
    ax.contourf(xx, yy, zz, cmap="coolwarm", alpha=0.3, levels=[-0.5, 0.5, 1.5])
    for label, color in ((0, "tab:blue"), (1, "tab:red")):
        chosen = labels == label
        ax.scatter(
            x[chosen, 0],
            x[chosen, 1],
            color=color,
            s=12,
            edgecolors="k",
            linewidths=0.2,
            label=f"class {label}",
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    details = [
        part for part in (points, None if accuracy is None else f"accuracy {accuracy:.3f}") if part
    ]
    title = " - ".join(part for part in (title, ", ".join(details)) if part)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _save(fig, path) -> str:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"))
    return os.fspath(path)


def save_decision_boundary(path: str | os.PathLike, predict, x, y, title: str = "", **kw) -> str:
    """Draw `decision_boundary_figure` and write it to `path` as PNG."""
    return _save(decision_boundary_figure(predict, x, y, title=title, **kw), path)


def cost_curves_figure(
    costs: Mapping[str, Sequence[tuple[int, float]]],
    title: str = "Cost during training",
    includes_penalty: bool = True,
):
    """`(iteration, cost)` series, one line per run, as the course's cost plot.

    `includes_penalty` says whether the costs include the L2 term (the course's
    regularized cost does); the y label says so.
    """
    fig = _figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    for name, series in costs.items():
        steps = [step for step, _ in series]
        values = [cost for _, cost in series]
        ax.plot(steps, values, marker="o" if len(values) <= 20 else None, markersize=3, label=name)
    ax.set_xlabel("iteration")
    penalty = "L2 penalty included" if includes_penalty else "data loss only"
    ax.set_ylabel(f"cost ({penalty}; log scale)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def save_cost_curves(path: str | os.PathLike, costs, title: str = "Cost during training") -> str:
    """Draw `cost_curves_figure` and write it to `path` as PNG."""
    return _save(cost_curves_figure(costs, title), path)


def save_learning_curves(
    path: str | os.PathLike, histories: Mapping[str, Mapping[str, Sequence[float]]]
) -> str:
    """Draw `learning_curves_figure` and write it to `path` as PNG."""
    return _save(learning_curves_figure(histories), path)


def learning_curves_figure(histories: Mapping[str, Mapping[str, Sequence[float]]]):
    """Accuracy and loss per epoch: training solid, validation dashed, a colour per run.

    `histories` maps a run name to a Keras `History.history`-like dict with
    `accuracy`, `val_accuracy`, `loss` and `val_loss` lists.
    """
    fig = _figure(figsize=(12, 4.5), dpi=100)
    acc_ax, loss_ax = fig.subplots(1, 2)
    colors = _colors()
    for index, (name, history) in enumerate(histories.items()):
        color = colors[index % len(colors)]
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            for series, style, part in ((key, "-", "train"), (f"val_{key}", "--", "validation")):
                if series in history:
                    values = history[series]
                    marker = "o" if len(values) <= 20 else None  # a 1-epoch curve is a dot
                    epochs = range(1, len(values) + 1)
                    ax.plot(
                        epochs,
                        values,
                        style,
                        color=color,
                        marker=marker,
                        markersize=3,
                        label=f"{name} {part}",
                    )
    acc_ax.set_ylabel("accuracy")
    loss_ax.set_ylabel("loss, L2 penalty included")
    for ax, title in ((acc_ax, "accuracy"), (loss_ax, "loss (data loss + L2 penalty)")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    # Outside the axes, so no curve is hidden behind it.
    handles, labels = acc_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


def reliability_figure(reports: Mapping[str, Mapping[str, dict]]):
    """Reliability diagrams: per method, accuracy against confidence in each bin, every run.

    `reports` maps a run name to its calibration report (`deterministic`,
    `temperature`, `mc_dropout` -> `{"bins": {"counts", "confidence",
    "accuracy"}, "ece": ...}`, as `kreg.runners.cifar.evaluate_calibration`
    makes). One column per method: accuracy against confidence per bin (the
    diagonal is perfect calibration; the legend gives each run's ECE) above
    the number of test images in each bin.
    """
    methods = [
        m
        for m in ("deterministic", "temperature", "mc_dropout")
        if any(m in report for report in reports.values())
    ]
    titles = {
        "deterministic": "deterministic",
        "temperature": "temperature scaled",
        "mc_dropout": "MC dropout",
    }
    fig = _figure(figsize=(4.2 * len(methods) + 2, 5.6), dpi=100)
    grid = fig.subplots(
        2, len(methods), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1]}
    )
    axes, count_axes = grid[0], grid[1]
    colors = _colors()
    for ax, count_ax, method in zip(axes, count_axes, methods):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfect calibration")
        for index, (name, report) in enumerate(reports.items()):
            if method not in report:
                continue
            bins = report[method]["bins"]
            filled = [i for i, c in enumerate(bins["counts"]) if c]
            confidence = [bins["confidence"][i] for i in filled]
            accuracy = [bins["accuracy"][i] for i in filled]
            color = colors[index % len(colors)]
            ax.plot(
                confidence,
                accuracy,
                color=color,
                linewidth=1,
                marker="o",
                markersize=4,
                label=f"{name} (ECE {report[method]['ece']:.3f})",
            )
            edges = np.linspace(0, 1, len(bins["counts"]) + 1)
            count_ax.stairs(bins["counts"], edges, color=color)
        ax.set_title(titles[method])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
        count_ax.set_xlabel("confidence (top-class probability)")
        count_ax.grid(alpha=0.3)
    count_axes[0].set_ylabel("images in the bin")
    axes[0].set_ylabel("accuracy in the bin (test set)")
    fig.tight_layout()
    return fig


def save_reliability(path: str | os.PathLike, reports) -> str:
    """Draw `reliability_figure` and write it to `path` as PNG."""
    return _save(reliability_figure(reports), path)


def save_run_curves(path: str | os.PathLike, runs) -> str:
    """Per run: accuracy (train solid, validation dashed) and the kernel norms' sum, by epoch.

    `runs` are `kreg.runs.RunRecord`s.
    """
    fig = _figure(figsize=(12, 4.5), dpi=100)
    acc_ax, norm_ax = fig.subplots(1, 2)
    colors = _colors()
    for index, run in enumerate(runs):
        color = colors[index % len(colors)]
        for key, style in (("train/epoch_accuracy", "-"), ("validation/epoch_accuracy", "--")):
            if key in run.curves:
                steps, values = zip(*run.curves[key])
                label = f"{run.name} {key.split('/')[0]}"
                acc_ax.plot(steps, values, style, color=color, label=label)
        norms = [v for k, v in run.curves.items() if k.startswith("train/epoch_kernel_norm/")]
        if norms:
            steps = [step for step, _ in norms[0]]
            total = np.sqrt(
                np.sum([[value**2 for _, value in series] for series in norms], axis=0)
            )
            norm_ax.plot(steps, total, color=color, label=run.name)
    acc_ax.set_title("accuracy")
    norm_ax.set_title("L2 norm of all regularized kernels")
    for ax in (acc_ax, norm_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)

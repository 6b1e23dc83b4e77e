"""Figures the course draws: decision boundaries and cost curves (PNG, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from kreg.lab.io import atomic_write

__all__ = [
    "cost_curves_figure",
    "decision_boundary_figure",
    "learning_curves_figure",
    "save_cost_curves",
    "save_decision_boundary",
    "reliability_figure",
    "run_curves_figure",
    "save_learning_curves",
    "save_reliability",
    "save_run_curves",
    "save_seed_spread",
    "seed_spread_figure",
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


def _plot_group(ax, series: Sequence, color, label: str, style: str = "-") -> None:
    """One line for one run; for several (seeds, trials) their mean and a min-max band.

    `series` holds `(steps, values)` pairs; several are cut to their common length.
    """
    marker = "o" if min(len(values) for _, values in series) <= 20 else None
    if len(series) == 1:
        steps, values = series[0]
        ax.plot(steps, values, style, color=color, marker=marker, markersize=3, label=label)
        return
    length = min(len(values) for _, values in series)
    steps = np.asarray(series[0][0][:length])
    values = np.array([np.asarray(v[:length], dtype=float) for _, v in series])
    ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.2, linewidth=0)
    ax.plot(
        steps,
        values.mean(0),
        style,
        color=color,
        marker=marker,
        markersize=3,
        label=f"{label} (mean of {len(series)}, band min-max)",
    )


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
    costs: Mapping[str, Sequence],
    title: str = "Cost during training",
    includes_penalty: bool = True,
):
    """`(iteration, cost)` series as the course's cost plot: one line per run or group.

    `costs` maps a name to one run's `(iteration, cost)` pairs, or to a list
    of such runs (seeds of one setting), drawn as their mean with a min-max
    band. `includes_penalty` says whether the costs include the L2 term (the
    course's regularized cost does); the y label says so.
    """
    fig = _figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    colors = _colors()
    for index, (name, runs) in enumerate(costs.items()):
        if runs and isinstance(runs[0], tuple):  # one run's (iteration, cost) pairs
            runs = [runs]
        series = [([step for step, _ in run], [cost for _, cost in run]) for run in runs]
        _plot_group(ax, series, colors[index % len(colors)], name)
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


def learning_curves_figure(histories: Mapping[str, Mapping | Sequence[Mapping]]):
    """Accuracy and loss per epoch: training solid, validation dashed, a colour per run.

    `histories` maps a run name to a Keras `History.history`-like dict with
    `accuracy`, `val_accuracy`, `loss` and `val_loss` lists, or to a list of
    them (seeds of one variant), drawn as their mean with a min-max band.
    """
    fig = _figure(figsize=(12, 4.5), dpi=100)
    acc_ax, loss_ax = fig.subplots(1, 2)
    colors = _colors()
    for index, (name, group) in enumerate(histories.items()):
        group = [group] if isinstance(group, Mapping) else list(group)
        color = colors[index % len(colors)]
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            for series, style, part in ((key, "-", "train"), (f"val_{key}", "--", "validation")):
                found = [h[series] for h in group if series in h]
                if found:
                    curves = [(range(1, len(v) + 1), v) for v in found]
                    _plot_group(ax, curves, color, f"{name} {part}", style)
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
    "accuracy"}, "ece": ...}`, as `kreg.lab.runners.cifar.evaluate_calibration`
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
        # Below the column, outside the data: an under-confident run's points lie upper left.
        count_ax.legend(
            *ax.get_legend_handles_labels(),
            fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.45),
        )
        count_ax.set_xlabel("confidence (top-class probability)")
        count_ax.grid(alpha=0.3)
    count_axes[0].set_ylabel("images in the bin")
    axes[0].set_ylabel("accuracy in the bin (test set)")
    fig.tight_layout()
    return fig


def save_reliability(path: str | os.PathLike, reports) -> str:
    """Draw `reliability_figure` and write it to `path` as PNG."""
    return _save(reliability_figure(reports), path)


def seed_spread_figure(results: Mapping[str, Mapping[str, Sequence[float]]], title: str = ""):
    """Test accuracy and train-test gap per variant over seeds: each seed a dot, mean ± std.

    `results` maps a variant's label to `{"test_accuracy": [...], "gap": [...]}`,
    one value per seed. Each panel shows every seed's value and the mean with
    a bar of one sample standard deviation; a dashed line marks the first
    variant's mean (the baseline) for comparison.
    """
    fig = _figure(figsize=(max(7.0, 1.1 * len(results) + 3), 4.8), dpi=100)
    axes = fig.subplots(1, 2)
    names = list(results)
    for ax, key, label in (
        (axes[0], "test_accuracy", "test accuracy"),
        (axes[1], "gap", "gap (train - test accuracy)"),
    ):
        for index, name in enumerate(names):
            values = np.asarray(results[name][key], dtype=float)
            ax.plot(np.full(len(values), index), values, "o", color="0.6", markersize=4)
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            ax.errorbar(index, values.mean(), yerr=std, fmt="s", color="tab:blue", capsize=4)
        base = np.mean(results[names[0]][key])
        ax.axhline(base, color="tab:red", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.set_title(f"{label}: seeds (grey), mean ± std (blue); dashed: {names[0]}", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_seed_spread(path: str | os.PathLike, results, title: str = "") -> str:
    """Draw `seed_spread_figure` and write it to `path` as PNG."""
    return _save(seed_spread_figure(results, title), path)


def _x_axis(run) -> tuple[list, str]:
    """The run's x values and their unit: full-batch runs log `steps`, Keras fits epochs."""
    steps = run.curves.get("train/epoch_steps")
    if steps:
        return [value for _, value in steps], "training steps"
    key = next(
        (k for k in ("train/epoch_accuracy", "validation/epoch_accuracy") if k in run.curves), None
    )
    return ([step + 1 for step, _ in run.curves[key]] if key else []), "epoch"


def _kernel_norm(run) -> list | None:
    """The L2 norm of every regularized kernel together, per epoch; None for unregularized runs."""
    penalty = [value for _, value in run.curves.get("train/epoch_kernel_penalty", [])]
    penalty = penalty or [value for _, value in run.curves.get("train/epoch_penalty", [])]
    norms = [v for k, v in run.curves.items() if k.startswith("train/epoch_kernel_norm/")]
    if not norms or not any(value > 0 for value in penalty):
        return None
    length = min(len(series) for series in norms)
    return list(np.sqrt(np.sum([[v for _, v in s[:length]] for s in norms], axis=0)))


def _group_label(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names).rstrip(" _(,=-")
    for word in ("seed", "_seed", " seed"):
        prefix = prefix.removesuffix(word)
    return prefix.rstrip(" _(,=-") or names[0]


def run_curves_figure(runs, sweeps=()):
    """Accuracy (train solid, validation dashed) and the regularized kernels' norm, per run.

    Args:
        runs: `kreg.lab.runs.RunRecord`s. Runs whose hyperparameters differ only
            in `seed` are one group, drawn as a mean with a min-max band, so
            the legend has an entry per model, not per seed.
        sweeps: `kreg.lab.runs.SweepRecord`s: each draws its best trial and a
            band over all its trials.

    The x axis is in the runs' own unit: training steps for full-batch runs
    (which log them), epochs for `model.fit` runs. The norm panel appears
    only when a run is regularized (a non-zero penalty), and shows only those.
    """
    groups: dict = {}
    for run in runs:
        hparams = {k: v for k, v in run.hparams.items() if k != "seed"}
        key = tuple(sorted(hparams.items(), key=str)) if hparams else ("run", run.path)
        groups.setdefault(key, []).append(run)
    entries = [(_group_label([r.name for r in group]), group) for group in groups.values()]
    for sweep in sweeps:
        best = [r for r in sweep.runs if r.name == sweep.best_trial_id]
        entries.append((f"{sweep.root.name}: best trial {sweep.best_trial_id}", best))
        entries.append((f"{sweep.root.name}: all {len(sweep.runs)} trials", sweep.runs))
    regularized = any(_kernel_norm(run) is not None for _, group in entries for run in group)
    fig = _figure(figsize=(12 if regularized else 7.5, 4.5), dpi=100)
    axes = fig.subplots(1, 2 if regularized else 1, squeeze=False)[0]
    acc_ax = axes[0]
    colors = _colors()
    units = set()
    for index, (label, group) in enumerate(entries):
        color = colors[index % len(colors)]
        for key, style, part in (
            ("train/epoch_accuracy", "-", "train"),
            ("validation/epoch_accuracy", "--", "validation"),
        ):
            series = []
            for run in group:
                if key in run.curves:
                    x, unit = _x_axis(run)
                    units.add(unit)
                    series.append((x, [value for _, value in run.curves[key]][: len(x)]))
            if series:
                _plot_group(acc_ax, series, color, f"{label} {part}", style)
        if regularized:
            norms = [(run, _kernel_norm(run)) for run in group]
            series = [(_x_axis(run)[0][: len(n)], n) for run, n in norms if n is not None]
            if series:
                _plot_group(axes[1], series, color, label)
    unit = " / ".join(sorted(units)) or "epoch"
    acc_ax.set_title("accuracy")
    acc_ax.set_ylabel("accuracy")
    if regularized:
        axes[1].set_title("regularized runs: L2 norm of all regularized kernels")
        axes[1].set_ylabel("norm")
    for ax in axes:
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)
    handles, labels = acc_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


def save_run_curves(path: str | os.PathLike, runs, sweeps=()) -> str:
    """Draw `run_curves_figure` and write it to `path` as PNG."""
    return _save(run_curves_figure(runs, sweeps), path)

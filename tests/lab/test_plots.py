"""kreg.lab.plots: what the figures show, read through Matplotlib's artists; no pyplot state."""

import subprocess
import sys

import numpy as np

from kreg.lab.plots import (
    cost_curves_figure,
    decision_boundary_figure,
    learning_curves_figure,
    save_learning_curves,
)


def test_learning_curves_label_train_and_validation_with_markers_for_short_runs():
    histories = {
        "baseline": {"accuracy": [0.5], "val_accuracy": [0.4], "loss": [1.0], "val_loss": [1.2]},
        "l2": {
            "accuracy": [0.3, 0.6],
            "val_accuracy": [0.3, 0.5],
            "loss": [2, 1],
            "val_loss": [2, 1],
        },
    }
    fig = learning_curves_figure(histories)
    acc_ax, loss_ax = fig.axes
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["baseline train", "baseline validation", "l2 train", "l2 validation"]
    assert acc_ax.get_ylabel() == "accuracy" and "penalty" in loss_ax.get_ylabel()
    assert all(line.get_marker() == "o" for line in acc_ax.get_lines())  # 1 point is visible
    # The legend is outside the axes: right of the last one.
    fig.canvas.draw()
    legend_box = fig.legends[0].get_window_extent()
    assert legend_box.x0 >= loss_ax.get_window_extent().x1


def test_cost_curves_say_whether_the_penalty_is_included():
    fig = cost_curves_figure({"L2": [(0, 0.7), (1000, 0.3)]}, includes_penalty=True)
    (ax,) = fig.axes
    assert "L2 penalty included" in ax.get_ylabel()
    assert ax.get_xlabel() == "iteration"


def test_decision_boundary_has_a_class_legend_and_says_which_points():
    x = np.array([[-0.5, -0.5], [0.2, 0.5]])
    y = np.array([0, 1])
    fig = decision_boundary_figure(
        lambda p: p[:, 1] > 0, x, y, title="m", points="test set", accuracy=1.0
    )
    (ax,) = fig.axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["class 0", "class 1"]
    assert "test set" in ax.get_title() and "accuracy 1.000" in ax.get_title()


def test_saving_writes_a_png_and_keeps_the_users_backend(tmp_path):
    # A notebook user's backend (here "pdf", chosen first) must survive kreg's plotting.
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('pdf')\n"
        "from kreg.lab.plots import save_learning_curves\n"
        "save_learning_curves(sys.argv[1], {'a': {'accuracy': [0.1, 0.2]}})\n"
        "print(matplotlib.get_backend())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "c.png")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split()[-1] == "pdf"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert save_learning_curves(tmp_path / "d.png", {"a": {"loss": [1.0]}}).endswith("d.png")


def test_reliability_diagrams_one_column_per_method_with_counts():
    from kreg.lab.plots import reliability_figure
    from kreg.metrics import calibration_bins, expected_calibration_error

    rng = np.random.RandomState(0)
    probs = rng.dirichlet(np.ones(4), size=200)
    labels = rng.randint(0, 4, 200)
    bins = calibration_bins(labels, probs)
    entry = {
        "ece": expected_calibration_error(labels, probs),
        "bins": {k: bins[k].tolist() for k in ("counts", "confidence", "accuracy")},
    }
    reports = {"a": {"deterministic": entry, "mc_dropout": entry}, "b": {"deterministic": entry}}
    fig = reliability_figure(reports)
    curves, counts = fig.axes[:2], fig.axes[2:]
    assert [ax.get_title() for ax in curves] == ["deterministic", "MC dropout"]
    labels_shown = [t.get_text() for t in counts[0].get_legend().get_texts()]
    assert labels_shown == [
        "perfect calibration",
        f"a (ECE {entry['ece']:.3f})",
        f"b (ECE {entry['ece']:.3f})",
    ]
    assert counts[0].get_ylabel() == "images in the bin"
    assert len(counts[1].get_legend().get_texts()) == 2  # run b has no MC dropout
    # Each legend is below its column, outside both axes.
    fig.canvas.draw()
    for ax in counts:
        assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0


def test_seeds_are_one_mean_line_with_a_band():
    seeds = [[(0, 1.0), (1000, 0.5)], [(0, 1.2), (1000, 0.3)], [(0, 0.8), (1000, 0.4)]]
    fig = cost_curves_figure({"baseline": [(0, 1.0), (1000, 0.6)], "true dropout": seeds})
    (ax,) = fig.axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["baseline", "true dropout (mean of 3, band min-max)"]
    mean_line = ax.get_lines()[1]
    np.testing.assert_allclose(mean_line.get_ydata(), [1.0, 0.4])
    (band,) = ax.collections  # the min-max band
    band_y = band.get_paths()[0].vertices[:, 1]
    assert band_y.min() == 0.3 and band_y.max() == 1.2
    histories = [{"accuracy": [0.2, 0.4]}, {"accuracy": [0.4, 0.6]}]
    fig = learning_curves_figure({"l2": histories})
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "l2 train (mean of 2, band min-max)"
    ]
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.3, 0.5])


def record(name, hparams, accuracy, penalty=None, steps=None):
    from kreg.lab.runs import RunRecord

    curves = {"train/epoch_accuracy": list(enumerate(accuracy))}
    curves["validation/epoch_accuracy"] = list(enumerate(accuracy))
    if penalty is not None:
        curves["train/epoch_penalty"] = list(enumerate(penalty))
        curves["train/epoch_kernel_norm/dense"] = list(enumerate([3.0] * len(accuracy)))
    if steps is not None:
        curves["train/epoch_steps"] = list(enumerate(steps))
    return RunRecord(name=name, path=f"/runs/{name}", hparams=hparams, metrics={}, curves=curves)


def test_run_curves_group_seeds_label_units_and_show_norms_only_for_regularized_runs():
    from kreg.lab.plots import run_curves_figure

    steps = [1000.0, 2000.0]
    runs = [record("plain", {"lambd": 0.0, "seed": -1}, [0.5, 0.6], [0, 0], steps)]
    runs += [
        record(
            f"dropout_seed_{s}",
            {"lambd": 0.0, "keep_prob": 0.86, "seed": s},
            [0.5, a],
            None,
            steps,
        )
        for s, a in enumerate([0.7, 0.8, 0.9])
    ]
    fig = run_curves_figure(runs)
    (acc_ax,) = fig.axes  # nothing regularized: no norm panel
    assert acc_ax.get_xlabel() == "training steps"
    np.testing.assert_array_equal(acc_ax.get_lines()[0].get_xdata(), steps)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "plain train",
        "plain validation",
        "dropout train (mean of 3, band min-max)",
        "dropout validation (mean of 3, band min-max)",
    ]
    runs.append(record("l2", {"lambd": 0.7, "seed": -1}, [0.5, 0.6], [0.1, 0.1], steps))
    fig = run_curves_figure(runs)
    acc_ax, norm_ax = fig.axes
    assert norm_ax.get_legend_handles_labels()[1] == ["l2"]  # only the regularized run
    assert norm_ax.get_xlabel() == "training steps" and norm_ax.get_ylabel() == "norm"
    keras_run = record("fit", {}, [0.4, 0.5, 0.6])
    assert run_curves_figure([keras_run]).axes[0].get_xlabel() == "epoch"


def test_seed_spread_shows_every_seed_and_the_mean_with_its_std():
    from kreg.lab.plots import seed_spread_figure

    results = {
        "baseline": {"test_accuracy": [0.50, 0.52, 0.54], "gap": [0.40, 0.42, 0.44]},
        "l2+dropout": {"test_accuracy": [0.55, 0.56, 0.57], "gap": [0.10, 0.12, 0.14]},
    }
    fig = seed_spread_figure(results)
    acc_ax, gap_ax = fig.axes
    assert [t.get_text() for t in acc_ax.get_xticklabels()] == ["baseline", "l2+dropout"]
    assert acc_ax.get_ylabel() == "test accuracy" and "gap" in gap_ax.get_ylabel()
    dots = [line for line in acc_ax.get_lines() if line.get_color() == "0.6"]
    np.testing.assert_allclose(dots[1].get_ydata(), [0.55, 0.56, 0.57])
    # The error bar of l2+dropout: mean 0.56, one sample std (0.01) each side.
    bars = [c for c in acc_ax.containers]
    segments = bars[1].lines[2][0].get_segments()
    np.testing.assert_allclose(segments[0][:, 1], [0.55, 0.57])
    (baseline_line,) = [line for line in acc_ax.get_lines() if line.get_linestyle() == "--"]
    np.testing.assert_allclose(baseline_line.get_ydata(), [0.52, 0.52])

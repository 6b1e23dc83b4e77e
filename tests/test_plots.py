"""kreg.plots: what the figures show, read through Matplotlib's artists, and no pyplot state."""

import subprocess
import sys

import numpy as np

from kreg.plots import (
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
        "from kreg.plots import save_learning_curves\n"
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
    from kreg.metrics import calibration_bins, expected_calibration_error
    from kreg.plots import reliability_figure

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
    labels_shown = [t.get_text() for t in curves[0].get_legend().get_texts()]
    assert labels_shown == [
        "perfect calibration",
        f"a (ECE {entry['ece']:.3f})",
        f"b (ECE {entry['ece']:.3f})",
    ]
    assert counts[0].get_ylabel() == "images in the bin"
    assert len(curves[1].get_legend().get_texts()) == 2  # run b has no MC dropout

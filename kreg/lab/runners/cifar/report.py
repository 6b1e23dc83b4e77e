"""What the CIFAR-10 experiment prints: the table, the spread over seeds, the calibration."""

from __future__ import annotations

__all__ = [
    "calibration_metrics",
    "print_calibration",
    "print_spread",
    "print_table",
    "regularization_text",
]

METHODS = {"deterministic": "det", "temperature": "temp", "mc_dropout": "mc"}


def calibration_metrics(calibration: dict) -> dict:
    """`det_nll`, `temp_ece`, `mc_nll`, ...: the calibration report as TensorBoard scalars."""
    return {
        f"{short}_{key}": calibration[method][key]
        for method, short in METHODS.items()
        if method in calibration
        for key in ("nll", "ece")
    }


def regularization_text(hyper: dict) -> str:
    """The optimizer and the exact penalty or decay of a run: `adam, L2 0.001`."""
    parts = [hyper["optimizer"]]
    if hyper.get("l2"):
        parts.append(f"L2 {hyper['l2']:g}")
    if hyper.get("weight_decay"):
        parts.append(f"decay {hyper['weight_decay']:g}")
    return ", ".join(parts)


def print_table(results) -> None:
    """One seed: accuracies, gap and time per variant, with what regularized it."""
    print(
        f"\n{'model':<14} {'train acc':>9} {'val acc':>8} {'test acc':>9} {'gap':>7} "
        f"{'seconds':>8}  {'optimizer, penalty':<22} (gap = train - test accuracy)"
    )
    for r in results:
        print(
            f"{r.name:<14} {r.train_accuracy:>9.4f} {r.val_accuracy:>8.4f} "
            f"{r.test_accuracy:>9.4f} {r.gap:>7.4f} {r.seconds:>8.1f}  "
            f"{regularization_text(r.hyperparameters):<22}"
        )
    by_name = {r.name: r for r in results}
    if "baseline" in by_name and "l2+dropout" in by_name:
        base, both = by_name["baseline"], by_name["l2+dropout"]
        points = 100 * (both.test_accuracy - base.test_accuracy)
        ratio = both.gap / base.gap if base.gap else float("nan")
        print(f"\nl2+dropout vs baseline: test accuracy {points:+.1f} points, gap {ratio:.2f}x")


def print_spread(summary: dict, seeds: list[int]) -> None:
    """Several seeds: mean ± std per variant, and the paired difference from its baseline."""
    print(
        f"\nOver {len(seeds)} seeds ({', '.join(map(str, seeds))}): mean ± sample std; "
        "vs baseline: the mean difference from the variant's baseline, paired by seed, with "
        "its 95 % interval"
    )
    print(
        f"{'model':<14} {'train acc':>15} {'test acc':>15} {'gap':>15}  "
        f"{'test acc vs baseline':>24} {'gap vs baseline':>24}  optimizer, penalty"
    )

    def spread(entry, digits=4):
        std = entry["std"]
        if std is None:
            return f"{entry['mean']:.{digits}f}"
        return f"{entry['mean']:.{digits}f} ± {std:.{digits}f}"

    def versus(entry):
        if entry["ci_low"] is None:
            return f"{entry['mean']:+.4f}"
        return f"{entry['mean']:+.4f} [{entry['ci_low']:+.4f}, {entry['ci_high']:+.4f}]"

    for variant, entry in summary.items():
        against = entry.get("vs_baseline")
        test_vs = versus(against["test_accuracy"]) if against else "-"
        gap_vs = versus(against["gap"]) if against else "-"
        print(
            f"{variant:<14} {spread(entry['train_accuracy']):>15} "
            f"{spread(entry['test_accuracy']):>15} {spread(entry['gap']):>15}  "
            f"{test_vs:>24} {gap_vs:>24}  {regularization_text(entry['regularization'])}"
        )
    if not any("nll" in entry for entry in summary.values()):
        return
    print(
        f"\n{'calibration':<14} {'test NLL':>15} {'test ECE':>15} {'NLL vs baseline':>24} "
        f"{'ECE vs baseline':>24} {'seconds':>13}  baseline   (test set, as predicted)"
    )
    for variant, entry in summary.items():
        if "nll" not in entry:
            continue
        against = entry.get("vs_baseline", {})
        nll_vs = versus(against["nll"]) if "nll" in against else "-"
        ece_vs = versus(against["ece"]) if "ece" in against else "-"
        print(
            f"{variant:<14} {spread(entry['nll']):>15} {spread(entry['ece']):>15} "
            f"{nll_vs:>24} {ece_vs:>24} {spread(entry['seconds'], 0):>13}  "
            f"{entry.get('baseline', '-')}"
        )


def print_calibration(results, note: str = "") -> None:
    """The test set's NLL and ECE for each variant: as predicted, temperature-scaled, MC."""
    print(
        f"\n{'calibration':<14} {'det NLL':>8} {'det ECE':>8} {'T':>5} {'temp NLL':>9} "
        f"{'temp ECE':>9} {'MC NLL':>8} {'MC ECE':>8}   (test set; T fitted on validation)"
        f"{note}"
    )
    for r in results:
        c = r.calibration
        if not c:
            continue
        det, temp, mc = c["deterministic"], c["temperature"], c.get("mc_dropout")
        mc_text = f"{mc['nll']:>8.4f} {mc['ece']:>8.4f}" if mc else f"{'-':>8} {'-':>8}"
        print(
            f"{r.name:<14} {det['nll']:>8.4f} {det['ece']:>8.4f} {temp['temperature']:>5.2f} "
            f"{temp['nll']:>9.4f} {temp['ece']:>9.4f} {mc_text}"
        )

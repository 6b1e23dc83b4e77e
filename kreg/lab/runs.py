"""Reading TensorBoard run directories back without a server: what `kreg inspect` shows."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

__all__ = ["RunRecord", "SweepRecord", "find_runs", "find_sweeps", "read_run"]


@dataclasses.dataclass
class RunRecord:
    """What `read_run` found in one run directory."""

    name: str
    path: str
    hparams: dict
    metrics: dict
    curves: dict  # "train/<tag>" and "validation/<tag>" -> [(step, value)]

    def last(self, key: str):
        series = self.curves.get(key)
        return series[-1][1] if series else None

    @property
    def train_accuracy(self):
        return self.metrics.get("train_accuracy", self.last("train/epoch_accuracy"))

    @property
    def val_accuracy(self):
        return self.metrics.get("val_accuracy", self.last("validation/epoch_accuracy"))

    @property
    def test_accuracy(self):
        # Only what the run recorded as a test result: Keras's validation curve is not one.
        return self.metrics.get("test_accuracy")

    @property
    def gap(self):
        if "gap" in self.metrics:
            return self.metrics["gap"]
        if self.train_accuracy is None or self.test_accuracy is None:
            return None
        return self.train_accuracy - self.test_accuracy

    @property
    def penalty_share(self):
        return self.last("train/epoch_penalty_share")

    def to_json(self) -> dict:
        return {
            "run": self.name,
            "hparams": self.hparams,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "gap": self.gap,
            "penalty_share": self.penalty_share,
            "metrics": self.metrics,
        }


def _accumulator(path: Path):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    return accumulator


def _scalar_series(accumulator) -> dict:
    from tensorboard.util import tensor_util

    series = {}
    for tag in accumulator.Tags().get("tensors", []):
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue  # images, histograms, the model's config text, ...
        events = accumulator.Tensors(tag)
        series[tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events]
    for tag in accumulator.Tags().get("scalars", []):
        series[tag] = [(e.step, float(e.value)) for e in accumulator.Scalars(tag)]
    return series


def _plugin_data(accumulator) -> list:
    from tensorboard.plugins.hparams import plugin_data_pb2

    try:
        contents = accumulator.PluginTagToContent("hparams")
    except KeyError:  # no hparams in this directory's event files
        return []
    return [plugin_data_pb2.HParamsPluginData.FromString(c) for c in contents.values()]


def _hparams(accumulator) -> dict:
    found = {}
    for data in _plugin_data(accumulator):
        if data.HasField("session_start_info"):
            for name, value in data.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                found[name] = getattr(value, kind) if kind else None
    return found


def _integer_hparams(accumulator) -> set[str]:
    """Hyperparameters an experiment config declares with a Discrete domain of integers."""
    names = set()
    for data in _plugin_data(accumulator):
        if data.HasField("experiment"):
            for info in data.experiment.hparam_infos:
                if info.HasField("domain_discrete"):
                    values = info.domain_discrete.values
                    kinds = {v.WhichOneof("kind") for v in values}
                    if kinds == {"number_value"} and all(
                        v.number_value.is_integer() for v in values
                    ):
                        names.add(info.name)
    return names


def read_run(path: str | os.PathLike) -> RunRecord:
    """Read a run directory's hyperparameters, final metrics and epoch curves."""
    path = Path(path)
    root = _accumulator(path)
    scalars = _scalar_series(root)
    metrics = {
        tag.split("/", 1)[1]: values[-1][1]
        for tag, values in scalars.items()
        if tag.startswith("hparams/")
    }
    curves = {}
    for part in ("train", "validation"):
        if (path / part).is_dir():
            for tag, values in _scalar_series(_accumulator(path / part)).items():
                curves[f"{part}/{tag}"] = values
    return RunRecord(
        name=path.name, path=str(path), hparams=_hparams(root), metrics=metrics, curves=curves
    )


def _has_events(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.name.startswith("events.out.tfevents") for p in folder.iterdir()
    )


def find_runs(logdir: str | os.PathLike) -> list[RunRecord]:
    """Every run under `logdir`, in path order.

    A run is a directory whose own event files record hyperparameters (kreg's
    experiments and sweeps), or one with Keras's `train/` or `validation/`
    event folders (a plain `keras.callbacks.TensorBoard` run, listed with its
    curves and no hyperparameters).
    """
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise FileNotFoundError(f"No such log directory: {logdir}")
    runs, integers = [], {}  # folder -> integer hyperparameters its config declares
    for folder, _, files in sorted(os.walk(logdir)):
        folder = Path(folder)
        keras_run = _has_events(folder / "train") or _has_events(folder / "validation")
        own_events = any(name.startswith("events.out.tfevents") for name in files)
        if own_events:
            declared = _integer_hparams(_accumulator(folder))
            if declared:
                integers[folder] = declared
        if keras_run or own_events:
            record = read_run(folder)
            # TensorBoard stores numbers as doubles: give back what the config declares integer.
            for parent in (folder, *folder.parents):
                for name in integers.get(parent, ()):
                    if isinstance(record.hparams.get(name), float):
                        record.hparams[name] = int(record.hparams[name])
            if record.hparams or keras_run:
                runs.append(record)
    return runs


@dataclasses.dataclass
class SweepRecord:
    """A `kreg sweep` log directory: its `sweep.json` and its trials' runs, in trial order."""

    root: Path
    objective: str
    best_trial_id: str
    runs: list  # RunRecord, named by trial id
    seed_runs: list = dataclasses.field(default_factory=list)  # executions 1, 2, ... of trials


def find_sweeps(logdir: str | os.PathLike, runs: list[RunRecord]) -> list[SweepRecord]:
    """The sweeps under `logdir` (folders with a `sweep.json`), with their runs from `runs`.

    A trial's run is `<sweep>/<trial id>/execution<k>` (KerasTuner's layout);
    its record is renamed to the trial id. A trial of several seeds (KerasTuner
    executions) is its `execution0`, which holds the trial's final metrics.
    """
    sweeps = []
    for path in sorted(Path(logdir).rglob("sweep.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            objective, best = summary["objective"], summary["best_trial_id"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a kreg sweep summary: {error}") from None
        root = path.parent.resolve()
        members, seed_runs = [], []
        for run in runs:
            path_of_run = Path(run.path).resolve()
            if path_of_run.is_relative_to(root):
                relative = path_of_run.relative_to(root).parts
                if len(relative) == 2 and relative[1].startswith("execution"):
                    run.name = relative[0]
                    (members if relative[1] == "execution0" else seed_runs).append(run)
        sweeps.append(
            SweepRecord(
                root=path.parent,
                objective=objective,
                best_trial_id=best,
                runs=sorted(members, key=lambda r: r.name),
                seed_runs=seed_runs,
            )
        )
    return sweeps

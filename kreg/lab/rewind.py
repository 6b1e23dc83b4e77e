"""Rewinding a run's log files to the epoch its backup restored.

A run killed after some epoch's logs were written, but before that epoch's
backup was complete, trains those epochs again when it resumes. Its
`CSVLogger` file and TensorBoard event files would then hold the lost epochs
twice (TensorBoard draws them as a zigzag). `rewind_run_logs` rewrites both,
atomically, to hold exactly the restored epochs.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import tensorflow as tf

from kreg.lab.io import atomic_write

__all__ = ["rewind_csv_log", "rewind_event_files", "rewind_run_logs"]


def rewind_run_logs(run_dir: Path, epoch: int, history: list[dict]) -> None:
    """`run_dir/log.csv` rewritten from `history`, and its event files cut after `epoch`."""
    run_dir = Path(run_dir)
    rewind_csv_log(run_dir / "log.csv", history)
    rewind_event_files(run_dir, epoch)


def rewind_csv_log(path: Path, history: list[dict]) -> None:
    """The CSV file `keras.callbacks.CSVLogger` writes, holding the epochs of `history`."""
    if not history:
        Path(path).unlink(missing_ok=True)
        return
    keys = sorted(history[0])

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch", *keys])
            writer.writeheader()
            for epoch, logs in enumerate(history):
                writer.writerow({"epoch": epoch, **{key: logs.get(key) for key in keys}})

    atomic_write(path, write)


def rewind_event_files(run_dir: Path, epoch: int) -> int:
    """Drop, from every TensorBoard event file under `run_dir`, the summaries of epochs >= `epoch`.

    Keras's `TensorBoard` callback writes epoch-level summaries at step =
    epoch index (0-based); a backup of `epoch` complete epochs keeps steps
    `0 .. epoch - 1`. Events without summaries (file headers) are kept. Each
    file is rewritten through a temporary name. The files of this process
    (TensorFlow puts the PID in the name) are left alone: a writer has them
    open, and they hold nothing from before the restore. Returns the events
    dropped.
    """
    dropped, mine = 0, f".{os.getpid()}."
    for path in sorted(Path(run_dir).rglob("events.out.tfevents.*")):
        if mine in path.name:
            continue
        kept, removed = [], 0
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            if event.HasField("summary") and event.step >= epoch:
                removed += 1
            else:
                kept.append(record.numpy())
        if removed:

            def write(tmp: str, records=kept) -> None:
                with tf.io.TFRecordWriter(tmp) as writer:
                    for record in records:
                        writer.write(record)

            atomic_write(path, write)
            dropped += removed
    return dropped

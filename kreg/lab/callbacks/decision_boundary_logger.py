"""`DecisionBoundaryLogger`: a 2-D classifier's decision boundary, drawn every N epochs."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from kreg.lab.io import atomic_write
from kreg.lab.plots import FOOTBALL_XLIM, FOOTBALL_YLIM, decision_boundary_figure

__all__ = ["DecisionBoundaryLogger"]


class DecisionBoundaryLogger(keras.callbacks.Callback):
    """Draws a 2-D classifier's decision boundary over its data every N epochs, as the course does.

    The picture goes to TensorBoard as an image (tag `decision_boundary`, in
    `<logdir>/boundary`) and, optionally, to PNG files
    `<png_dir>/epoch_<n>.png`.

    Args:
        x: `(examples, 2)` points to draw.
        y: their 0/1 labels.
        logdir: TensorBoard run directory (None for no image summary).
        every: draw every this many epochs (and after the last).
        png_dir: also write PNG files here.
        xlim, ylim: the window; defaults to the course's football field.
        title: figure title prefix.
    """

    def __init__(
        self,
        x,
        y,
        logdir=None,
        every: int = 1,
        png_dir=None,
        xlim=FOOTBALL_XLIM,
        ylim=FOOTBALL_YLIM,
        title: str = "",
    ):
        super().__init__()
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(
                f"DecisionBoundaryLogger draws 2-D inputs; `x` must be (examples, 2). "
                f"Received shape {x.shape}."
            )
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        if logdir is None and png_dir is None:
            raise ValueError("DecisionBoundaryLogger needs `logdir`, `png_dir` or both.")
        self.x, self.y = x, np.asarray(y)
        self.logdir, self.png_dir, self.every = logdir, png_dir, every
        self.xlim, self.ylim, self.title = xlim, ylim, title
        self._writer = None
        self._last_drawn = None
        self._last_epoch = None

    def _predict(self, points):
        dtype = self.model.inputs[0].dtype if getattr(self.model, "inputs", None) else "float32"
        return keras.ops.convert_to_numpy(self.model(np.asarray(points, dtype=dtype)))

    def _draw(self, epoch):
        title = f"{self.title} epoch {epoch + 1}".strip()
        fig = decision_boundary_figure(
            self._predict, self.x, self.y, title=title, xlim=self.xlim, ylim=self.ylim
        )
        fig.canvas.draw()
        image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        if self.png_dir is not None:
            path = os.path.join(self.png_dir, f"epoch_{epoch + 1:05d}.png")
            atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
        if self.logdir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(os.path.join(self.logdir, "boundary"))
            with self._writer.as_default():
                tf.summary.image("decision_boundary", image[None], step=epoch)
            self._writer.flush()
        self._last_drawn = epoch

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._draw(epoch)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._last_drawn != self._last_epoch:
            self._draw(self._last_epoch)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last_epoch = epoch

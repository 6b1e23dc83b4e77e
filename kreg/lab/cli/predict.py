"""`kreg predict`: the most likely classes of your own images under a saved CIFAR-10 model."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kreg.datasets import CIFAR10_CLASSES

__all__ = ["load_images", "run"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _decode(path: Path, size: tuple[int, int]) -> np.ndarray:
    try:
        image = tf.io.decode_image(path.read_bytes(), channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"{path} is not a PNG or JPEG image ({error.message})") from None
    image = tf.cast(image, tf.float32)
    if tuple(image.shape[:2]) != size:
        # Values stay in 0-255: the model standardizes them itself.
        image = tf.image.resize(image, size, antialias=True)
    return image.numpy()


def load_images(source: str | Path, size: tuple[int, int]) -> tuple[list[str], np.ndarray]:
    """`(names, images)`: raw 0-255 float32 images of `size` from a folder, an image or a .npy.

    Args:
        source: a folder of PNG/JPEG files (each resized to `size` if it is
            not that size), one such file, or a `.npy` array of shape
            `(n, height, width, 3)` or `(height, width, 3)` (read without
            pickles) whose images are already `size`.
        size: `(height, width)` of the model's input.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"IMAGES {source} does not exist")
    if source.suffix == ".npy":
        array = np.load(source, allow_pickle=False)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[1:] != (*size, 3) or array.dtype.kind not in "uif":
            raise ValueError(
                f"{source} must hold numbers of shape (n, {size[0]}, {size[1]}, 3) with values "
                f"0-255; it holds {array.dtype} of shape {array.shape}"
            )
        names = [f"{source.name}[{i}]" for i in range(len(array))]
        return names, array.astype(np.float32)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{source} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    elif source.suffix.lower() in IMAGE_SUFFIXES:
        files = [source]
    else:
        raise ValueError(
            f"IMAGES must be a folder of PNG/JPEG images, one such image, or a .npy array; "
            f"got {source}"
        )
    return [p.name for p in files], np.stack([_decode(p, size) for p in files])


def run(args) -> int:
    path = Path(args.model)
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(
            f"MODEL must be a .keras file (experiments/cifar_l2.py --models-dir writes them); "
            f"got {path}"
        )
    model = keras.models.load_model(path)  # safe_mode: no code from the file runs
    size = tuple(model.input_shape[1:3])
    names, images = load_images(args.images, size)
    if images.max() <= 1.0:
        print(
            "kreg predict: warning: every value is <= 1; the model expects 0-255 images "
            "(it standardizes them itself)."
        )
    probabilities = model.predict(images, batch_size=256, verbose=0)
    classes = CIFAR10_CLASSES
    if probabilities.shape[-1] != len(classes):
        classes = tuple(f"class {i}" for i in range(probabilities.shape[-1]))
    top = min(args.top, len(classes))
    width = max(len("image"), *map(len, names))
    print(f"{'image':<{width}}  top {top} classes (probability)")
    for name, row in zip(names, probabilities):
        best = np.argsort(-row, kind="stable")[:top]
        shown = ", ".join(f"{classes[i]} {row[i]:.3f}" for i in best)
        print(f"{name:<{width}}  {shown}")
    return 0

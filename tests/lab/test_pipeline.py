import numpy as np
import pytest

from kreg.lab.pipeline import ChannelStandardizer, EpochSeededImages

RNG = np.random.RandomState(0)
IMAGES = RNG.randint(0, 256, (20, 32, 32, 3)).astype(np.uint8)
LABELS = RNG.randint(0, 10, (20, 1)).astype(np.uint8)


def epoch_batches(images: EpochSeededImages, epoch: int):
    images.epoch.assign(epoch)
    return [(np.asarray(x), np.asarray(y)) for x, y in images.train_dataset()]


def test_standardizer_uses_training_statistics():
    standardize = ChannelStandardizer(IMAGES)
    out = np.asarray(standardize(IMAGES))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_constant_channel_is_an_error():
    with pytest.raises(ValueError, match="constant"):
        ChannelStandardizer(np.zeros((2, 4, 4, 3), np.uint8))


def test_epoch_is_a_seeded_permutation():
    images = EpochSeededImages(IMAGES, LABELS, batch_size=8, seed=3)
    batches = epoch_batches(images, 0)
    assert [len(y) for _, y in batches] == [8, 8, 4] and images.steps_per_epoch == 3
    served = np.concatenate([x for x, _ in batches])
    expected = np.asarray(images.standardize(IMAGES))
    order = [int(np.argmin(np.abs(expected - image).sum(axis=(1, 2, 3)))) for image in served]
    assert sorted(order) == list(range(20)) and order != list(range(20))


def test_same_seed_and_epoch_same_data_other_epoch_other_order():
    a = EpochSeededImages(IMAGES, LABELS, 8, seed=3, augment="crop-flip")
    b = EpochSeededImages(IMAGES, LABELS, 8, seed=3, augment="crop-flip")
    first, again = epoch_batches(a, 2), epoch_batches(b, 2)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other = epoch_batches(a, 3)
    assert not np.array_equal(first[0][0], other[0][0])
    # Iterating epoch 2 again after epoch 3 gives epoch 2 back: no hidden iteration state.
    np.testing.assert_array_equal(epoch_batches(a, 2)[0][0], first[0][0])


@pytest.mark.parametrize("augment", ["crop-flip", "book"])
def test_augmentation_changes_images_but_keeps_shapes(augment):
    plain = EpochSeededImages(IMAGES, LABELS, 20, seed=1, shuffle=False)
    augmented = EpochSeededImages(IMAGES, LABELS, 20, seed=1, augment=augment, shuffle=False)
    ((x_plain, y_plain),) = epoch_batches(plain, 0)
    ((x_aug, y_aug),) = epoch_batches(augmented, 0)
    assert x_aug.shape == x_plain.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(y_aug, y_plain)
    assert np.mean(x_aug != x_plain) > 0.2


def test_book_augmentation_is_a_rotation_shift_flip_not_noise():
    # A smooth gradient image stays smooth under rotation, shift and flip.
    ramp = np.tile(np.linspace(0, 255, 32, dtype=np.float64)[None, :, None], (32, 1, 3))
    images = np.stack([ramp.astype(np.uint8)] * 4 + [255 - ramp.astype(np.uint8)] * 4)
    labels = np.zeros((8, 1), np.uint8)
    pipeline = EpochSeededImages(images, labels, 8, seed=0, augment="book", shuffle=False)
    ((x, _),) = epoch_batches(pipeline, 0)
    assert np.abs(np.diff(x, axis=2)).max() < 0.5


def test_eval_dataset_is_ordered_and_not_augmented():
    images = EpochSeededImages(IMAGES, LABELS, 8, seed=0, augment="book")
    served = np.concatenate([np.asarray(x) for x, _ in images.eval_dataset(IMAGES, LABELS)])
    np.testing.assert_allclose(served, np.asarray(images.standardize(IMAGES)), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(augment="mixup"), "augment"), (dict(batch_size=0), "batch_size")],
)
def test_bad_arguments(kwargs, message):
    settings = dict(batch_size=8, augment="none") | kwargs
    with pytest.raises(ValueError, match=message):
        EpochSeededImages(IMAGES, LABELS, **settings)


def test_label_count_mismatch():
    with pytest.raises(ValueError, match="20 training images but 19 labels"):
        EpochSeededImages(IMAGES, LABELS[:19], 8)

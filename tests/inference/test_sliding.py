"""`predict_sliding_window`: tile layout, averaging, padding, equivalences."""

import itertools

import numpy as np
import pytest

from keras_srcrm.inference import predict_sliding_window
from keras_srcrm.inference import predict_whole
from keras_srcrm.inference import tile_starts
from tests.inference.models import Recorder
from tests.inference.models import identity
from tests.inference.models import pointwise_model
from tests.inference.models import row_in_tile

# Averaging equal logits over several tiles is exact up to rounding.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize(
    "length, tile, stride, expected",
    [
        (10, 4, 3, [0, 3, 6]),
        (10, 4, 4, [0, 4, 6]),
        (12, 4, 4, [0, 4, 8]),
        (4, 4, 1, [0]),
        (5, 4, 1, [0, 1]),
        (5, 4, 4, [0, 1]),
        (2048, 1024, 682, [0, 682, 1024]),
    ],
)
def test_tile_starts(length, tile, stride, expected):
    assert tile_starts(length, tile, stride) == expected


def test_tiles_cover_every_pixel_and_end_at_the_border():
    for length, tile in itertools.product(range(1, 15), range(1, 15)):
        if tile > length:
            continue
        for stride in range(1, tile + 1):
            starts = tile_starts(length, tile, stride)
            covered = np.zeros(length, bool)
            for start in starts:
                covered[start : start + tile] = True
            assert covered.all()
            assert starts[0] == 0 and starts[-1] == length - tile
            assert starts == sorted(set(starts))
            assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize(
    "tile_size, stride, batch_size",
    [
        (5, 3, 4),
        (5, 5, 1),
        (5, 1, 16),
        ((4, 9), (2, 9), 3),
        ((13, 6), None, 2),
        ((20, 6), 6, 5),
    ],
)
def test_pointwise_model_equals_whole_image(images, tile_size, stride, batch_size):
    model = pointwise_model()
    np.testing.assert_allclose(
        predict_sliding_window(
            model, images, tile_size=tile_size, stride=stride, batch_size=batch_size
        ),
        predict_whole(model, images),
        **TOLERANCE,
    )


def test_logits_are_the_mean_over_the_covering_tiles(images):
    tile, stride = (5, 6), (3, 4)
    result = predict_sliding_window(
        row_in_tile, images, tile_size=tile, stride=stride, output="logits"
    )
    total, hits = np.zeros((13, 17)), np.zeros((13, 17))
    for y in tile_starts(13, tile[0], stride[0]):
        for x in tile_starts(17, tile[1], stride[1]):
            total[y : y + tile[0], x : x + tile[1]] += np.arange(tile[0])[:, None]
            hits[y : y + tile[0], x : x + tile[1]] += 1
    expected = np.broadcast_to(total / hits, (2, 13, 17))
    np.testing.assert_allclose(result[..., 0], expected)
    np.testing.assert_array_equal(result[..., 1], 0.0)


def test_default_stride_is_two_thirds_of_the_tile(images):
    model = Recorder(identity)
    predict_sliding_window(model, images[:1], tile_size=6, batch_size=1)
    # Stride 4: rows start at 0, 4, 7 and columns at 0, 4, 8, 11.
    assert len(model.shapes) == 3 * 4


def test_tiles_are_batched_across_images(images):
    model = Recorder(identity)
    predict_sliding_window(model, images, tile_size=(13, 9), stride=8, batch_size=3)
    # Two tiles per image, four in all: one call of three and one of one.
    assert model.shapes == [(3, 13, 9, 3), (1, 13, 9, 3)]


def test_image_smaller_than_the_tile_is_padded_then_cropped(images):
    model = Recorder(identity)
    result = predict_sliding_window(model, images, tile_size=(16, 20), batch_size=2)
    assert model.shapes == [(2, 16, 20, 3)]
    np.testing.assert_array_equal(result, images)


def test_image_smaller_than_the_tile_on_one_axis(images):
    model = Recorder(identity)
    result = predict_sliding_window(
        model, images[:1], tile_size=(16, 8), stride=5, batch_size=1
    )
    assert set(model.shapes) == {(1, 16, 8, 3)} and len(model.shapes) == 3
    np.testing.assert_allclose(result, images[:1], **TOLERANCE)


def test_one_tile_equals_padded_whole_image_for_a_real_model(tiny_segmenter, rng):
    images = rng.uniform(0, 255, size=(2, 45, 61, 3)).astype("float32")
    sliding = predict_sliding_window(tiny_segmenter, images, tile_size=64, batch_size=2)
    whole = predict_whole(tiny_segmenter, images, pad_to_multiple_of=64, batch_size=2)
    assert sliding.shape == (2, 45, 61, 3)
    np.testing.assert_allclose(sliding, whole, rtol=1e-5, atol=1e-5)


def test_real_model_on_an_odd_size(tiny_segmenter, rng):
    images = rng.uniform(0, 255, size=(1, 45, 61, 3)).astype("float32")
    # 48x48 tiles at a stride of 32: two tiles, the image padded to 48 rows.
    probabilities = predict_sliding_window(
        tiny_segmenter, images, tile_size=48, batch_size=2, output="probabilities"
    )
    assert probabilities.shape == (1, 45, 61, 3)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tile_size": 0}, r"`tile_size` must be .*each >= 1.*tile_size=0"),
        ({"tile_size": (4, -1)}, r"`tile_size`.*tile_size=\(4, -1\)"),
        ({"tile_size": (4, 4, 4)}, r"`tile_size` must be an int or a pair"),
        ({"tile_size": None}, r"`tile_size`.*tile_size=None"),
        ({"tile_size": 4, "stride": 5}, r"`stride` must not exceed.*stride=5"),
        ({"tile_size": (4, 8), "stride": (2, 9)}, r"`stride`.*stride=\(2, 9\)"),
        ({"tile_size": 4, "stride": 0}, r"`stride` must be .*each >= 1.*stride=0"),
        ({"tile_size": 4, "batch_size": 0}, r"`batch_size`.*batch_size=0"),
    ],
)
def test_invalid_arguments_raise(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict_sliding_window(identity, images, **kwargs)

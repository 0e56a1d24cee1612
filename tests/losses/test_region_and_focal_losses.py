"""DiceLoss, LovaszSoftmaxLoss, FocalLoss and CombinedLoss.

Each loss is checked against an independent NumPy implementation
(`loss_references.py`: the published formulas on the labelled pixels only),
for ignored pixels contributing nothing, for gradients (against central
differences of the reference), float32 under mixed precision and XLA.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_srcrm.losses import CombinedLoss
from keras_srcrm.losses import DiceLoss
from keras_srcrm.losses import FocalLoss
from keras_srcrm.losses import LovaszSoftmaxLoss
from keras_srcrm.losses import SegmentationCrossEntropy
from tests.losses import loss_references as ref

BACKEND = keras.backend.backend()
NUM_CLASSES = 4
SHAPE = (2, 6, 7)

# Each loss class and its NumPy reference, for the tests they share.
LOSSES = {
    "dice": (DiceLoss, ref.dice_loss),
    "lovasz": (LovaszSoftmaxLoss, ref.lovasz_softmax_loss),
    "focal": (FocalLoss, ref.focal_loss),
}


def _batch(rng, ignore_label=255, ignored=0.3, absent=None):
    labels = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    if absent is not None:
        labels[labels == absent] = (absent + 1) % NUM_CLASSES
    labels[rng.random(SHAPE) < ignored] = ignore_label
    logits = (2 * rng.normal(size=SHAPE + (NUM_CLASSES,))).astype("float32")
    return labels, logits


def _value(loss, labels, scores, **kwargs):
    return float(ops.convert_to_numpy(loss(labels, scores, **kwargs)))


class TestAgainstNumPyReference:
    @pytest.mark.parametrize("ignore_label", [255, -1])
    @pytest.mark.parametrize("classes", ["present", "all"])
    @pytest.mark.parametrize("weighted", [False, True])
    def test_dice(self, rng, ignore_label, classes, weighted):
        labels, logits = _batch(rng, ignore_label, absent=2)
        weights = [1.0, 2.0, 0.5, 3.0] if weighted else None
        kwargs = dict(ignore_label=ignore_label, class_weights=weights, classes=classes)
        np.testing.assert_allclose(
            _value(DiceLoss(**kwargs), labels, logits),
            ref.dice_loss(labels, logits, **kwargs),
            rtol=1e-5,
        )

    def test_dice_smoothing_probabilities_and_sample_weight(self, rng):
        labels, logits = _batch(rng)
        probs = ref.softmax(logits).astype("float32")
        pixel_weights = rng.uniform(0, 2, SHAPE).astype("float32")
        pixel_weights[0, 0] = 0.0
        loss = DiceLoss(from_logits=False, smooth=1.0, classes="all")
        np.testing.assert_allclose(
            _value(loss, labels, probs, sample_weight=pixel_weights),
            ref.dice_loss(
                labels,
                probs,
                smooth=1.0,
                classes="all",
                from_logits=False,
                pixel_weights=pixel_weights,
            ),
            rtol=1e-5,
        )

    @pytest.mark.parametrize("ignore_label", [255, -1])
    @pytest.mark.parametrize("classes", ["present", "all"])
    @pytest.mark.parametrize("per_image", [False, True])
    def test_lovasz(self, rng, ignore_label, classes, per_image):
        labels, logits = _batch(rng, ignore_label, absent=1)
        kwargs = dict(ignore_label=ignore_label, classes=classes, per_image=per_image)
        np.testing.assert_allclose(
            _value(LovaszSoftmaxLoss(**kwargs), labels, logits),
            ref.lovasz_softmax_loss(labels, logits, **kwargs),
            rtol=1e-5,
        )

    def test_lovasz_class_weights_and_probabilities(self, rng):
        labels, logits = _batch(rng)
        probs = ref.softmax(logits).astype("float32")
        weights = [0.5, 1.0, 2.0, 0.0]
        loss = LovaszSoftmaxLoss(from_logits=False, class_weights=weights)
        np.testing.assert_allclose(
            _value(loss, labels, probs),
            ref.lovasz_softmax_loss(
                labels, probs, class_weights=weights, from_logits=False
            ),
            rtol=1e-5,
        )

    def test_lovasz_equals_the_jaccard_loss_on_hard_predictions(self):
        # On 0/1 probabilities the Lovász extension is the Jaccard loss itself.
        labels = np.array([[[0, 0, 1, 1, 1, 255]]], dtype="int32")
        predicted = np.array([[[0, 1, 1, 1, 0, 0]]])
        probs = np.eye(2, dtype="float32")[predicted]
        iou = np.array([1 / 3, 2 / 4])  # class 0: 1/(2+2-1); class 1: 2/(3+3-2)
        np.testing.assert_allclose(
            _value(LovaszSoftmaxLoss(from_logits=False), labels, probs),
            np.mean(1 - iou),
            rtol=1e-6,
        )

    @pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
    @pytest.mark.parametrize("weighted", [False, True])
    def test_focal(self, rng, gamma, weighted):
        labels, logits = _batch(rng)
        weights = [1.0, 2.0, 0.5, 3.0] if weighted else None
        np.testing.assert_allclose(
            _value(FocalLoss(gamma, class_weights=weights), labels, logits),
            ref.focal_loss(labels, logits, gamma, class_weights=weights),
            rtol=1e-5,
        )

    def test_focal_with_gamma_zero_is_the_cross_entropy(self, rng):
        labels, logits = _batch(rng)
        np.testing.assert_allclose(
            _value(FocalLoss(gamma=0.0), labels, logits),
            _value(SegmentationCrossEntropy(), labels, logits),
            rtol=1e-6,
        )


@pytest.mark.parametrize("name", sorted(LOSSES))
class TestIgnoredPixels:
    @pytest.mark.parametrize("bad", [1e4, np.inf, np.nan])
    def test_ignored_pixels_contribute_nothing(
        self, rng, value_and_gradient, name, bad
    ):
        cls, reference = LOSSES[name]
        labels, logits = _batch(rng)
        ignored = labels == 255
        logits[ignored] = bad
        value, gradient = value_and_gradient(lambda x: cls()(labels, x), logits)
        np.testing.assert_allclose(value, reference(labels, logits), rtol=1e-5)
        assert np.all(np.isfinite(gradient))
        assert np.all(gradient[ignored] == 0.0)
        assert np.any(gradient[~ignored] != 0.0)

    def test_labels_outside_the_classes_are_left_out(self, rng, name):
        cls, _ = LOSSES[name]
        labels, logits = _batch(rng)
        cleaned = labels.copy()
        labels[0, 0, :3] = [4, 9, -3]
        cleaned[0, 0, :3] = 255
        np.testing.assert_allclose(
            _value(cls(), labels, logits), _value(cls(), cleaned, logits), rtol=1e-6
        )

    def test_all_ignored_batch_gives_zero_and_zero_gradient(
        self, value_and_gradient, name
    ):
        cls, _ = LOSSES[name]
        labels = np.full(SHAPE, 255, dtype="int32")
        logits = np.linspace(-3, 3, np.prod(SHAPE) * NUM_CLASSES, dtype="float32")
        value, gradient = value_and_gradient(
            lambda x: cls()(labels, x), logits.reshape(SHAPE + (NUM_CLASSES,))
        )
        assert value == 0.0
        assert np.all(gradient == 0.0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_central_differences_of_the_reference(
    rng, value_and_gradient, name
):
    cls, reference = LOSSES[name]
    labels, logits = _batch(rng)
    _, gradient = value_and_gradient(lambda x: cls()(labels, x), logits)
    step = 1e-4
    logits64 = logits.astype("float64")
    valid = np.argwhere(labels != 255)
    for index in valid[rng.choice(len(valid), 4, replace=False)]:
        for channel in range(NUM_CLASSES):
            position = (*index, channel)
            plus, minus = logits64.copy(), logits64.copy()
            plus[position] += step
            minus[position] -= step
            numeric = (reference(labels, plus) - reference(labels, minus)) / (2 * step)
            np.testing.assert_allclose(gradient[position], numeric, atol=2e-4)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_gradient_step_lowers_the_loss(rng, value_and_gradient, name):
    cls, _ = LOSSES[name]
    labels, logits = _batch(rng)
    value, gradient = value_and_gradient(lambda x: cls()(labels, x), logits)
    after = _value(cls(), labels, logits - 0.5 * gradient / np.abs(gradient).max())
    assert after < value


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_scores_are_computed_in_float32(rng, name, dtype):
    cls, _ = LOSSES[name]
    labels, logits = _batch(rng)
    low = ops.cast(logits, dtype)
    value = cls()(labels, low)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(
        ops.convert_to_numpy(value),
        ops.convert_to_numpy(cls()(labels, ops.cast(low, "float32"))),
        rtol=1e-6,
    )


@pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason="XLA compilation applies to the TensorFlow and JAX backends; torch "
    "runs the losses eagerly (tested everywhere else).",
)
@pytest.mark.parametrize(
    "loss",
    [DiceLoss(), LovaszSoftmaxLoss(), LovaszSoftmaxLoss(per_image=True), FocalLoss()],
    ids=["dice", "lovasz", "lovasz_per_image", "focal"],
)
def test_compiles_with_xla_and_dynamic_batch(rng, loss):
    labels, logits = _batch(rng)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(
            loss.__call__,
            jit_compile=True,
            input_signature=[
                tf.TensorSpec((None,) + SHAPE[1:], tf.int32),
                tf.TensorSpec((None,) + SHAPE[1:] + (NUM_CLASSES,), tf.float32),
            ],
        )
    else:
        import jax

        compiled = jax.jit(loss.__call__)
    np.testing.assert_allclose(
        ops.convert_to_numpy(compiled(labels, logits)),
        ops.convert_to_numpy(loss(labels, logits)),
        rtol=1e-5,
    )


class TestCombinedLoss:
    def test_weighted_sum_of_its_terms(self, rng):
        labels, logits = _batch(rng)
        terms = [SegmentationCrossEntropy(), DiceLoss(), LovaszSoftmaxLoss()]
        loss = CombinedLoss(terms, weights=[1.0, 0.5, 0.25])
        expected = sum(
            w * _value(t, labels, logits) for w, t in zip([1.0, 0.5, 0.25], terms)
        )
        np.testing.assert_allclose(_value(loss, labels, logits), expected, rtol=1e-6)

    def test_passes_sample_weight_to_every_term(self, rng):
        labels, logits = _batch(rng)
        weights = rng.uniform(0.5, 2, SHAPE).astype("float32")
        terms = [SegmentationCrossEntropy(), DiceLoss()]
        expected = sum(_value(t, labels, logits, sample_weight=weights) for t in terms)
        np.testing.assert_allclose(
            _value(CombinedLoss(terms), labels, logits, sample_weight=weights),
            expected,
            rtol=1e-6,
        )

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"losses": []}, "losses"),
            ({"losses": DiceLoss()}, "losses"),
            ({"losses": [DiceLoss()], "weights": [1.0, 2.0]}, "weights"),
            ({"losses": [DiceLoss()], "weights": [-1.0]}, r"weights\[0\]"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            CombinedLoss(**kwargs)


@pytest.mark.parametrize(
    "loss",
    [
        DiceLoss(ignore_label=-1, class_weights=[1, 2, 3, 4], classes="all", smooth=1),
        LovaszSoftmaxLoss(ignore_label=None, per_image=True, classes="all"),
        FocalLoss(gamma=1.5, from_logits=False, reduction="sum"),
        CombinedLoss([SegmentationCrossEntropy(), DiceLoss()], weights=[1.0, 0.5]),
    ],
    ids=lambda loss: loss.name,
)
def test_serialization_round_trip(rng, loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    labels, logits = _batch(rng, ignore_label=-1)
    probs = ref.softmax(logits).astype("float32")
    np.testing.assert_allclose(
        _value(restored, labels, probs), _value(loss, labels, probs), rtol=1e-6
    )


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (DiceLoss, {"smooth": -1.0}, "smooth"),
        (DiceLoss, {"classes": "some"}, "classes"),
        (DiceLoss, {"from_logits": 1}, "from_logits"),
        (LovaszSoftmaxLoss, {"per_image": "yes"}, "per_image"),
        (LovaszSoftmaxLoss, {"ignore_label": 2.5}, "ignore_label"),
        (FocalLoss, {"gamma": -0.5}, "gamma"),
        (FocalLoss, {"class_weights": [1.0, -1.0]}, "class_weights"),
    ],
)
def test_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_class_weights_must_match_the_classes(rng, name):
    cls, _ = LOSSES[name]
    labels, logits = _batch(rng)
    with pytest.raises(ValueError, match="one weight per class"):
        cls(class_weights=[1.0, 2.0])(labels, logits)


def test_one_compiled_fit_with_cross_entropy_plus_lovasz(rng):
    # The smallest model that trains: a 1x1 convolution on the images.
    images = rng.uniform(0, 1, (4, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, (4, 8, 8)).astype("int32")
    labels[:, :2] = 255
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=CombinedLoss([SegmentationCrossEntropy(), LovaszSoftmaxLoss()]),
        jit_compile=BACKEND != "torch",
    )
    history = model.fit(images, labels, batch_size=4, epochs=3, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < history["loss"][0]

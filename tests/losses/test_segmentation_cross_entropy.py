"""SegmentationCrossEntropy against torch's cross_entropy and crafted cases."""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from keras import ops

from keras_srcrm.losses import SegmentationCrossEntropy

BACKEND = keras.backend.backend()


def _labels_and_logits(rng, shape=(2, 8, 8), num_classes=4, ignore_label=255):
    labels = rng.integers(0, num_classes, shape).astype("int32")
    labels[rng.random(shape) < 0.3] = ignore_label
    logits = (3 * rng.normal(size=shape + (num_classes,))).astype("float32")
    return labels, logits


def _torch_cross_entropy(labels, logits, ignore_label=255, weight=None, **kwargs):
    weight = None if weight is None else torch.tensor(weight, dtype=torch.float32)
    return F.cross_entropy(
        torch.from_numpy(logits).permute(0, 3, 1, 2),
        torch.from_numpy(labels.astype("int64")),
        ignore_index=ignore_label,
        weight=weight,
        **kwargs,
    ).numpy()


def _true_class_logits(probabilities):
    """Two-class logits whose softmax gives class 1 the given probabilities."""
    p = np.asarray(probabilities, dtype="float64")
    logits = np.stack([np.zeros_like(p), np.log(p / (1 - p))], axis=-1)
    return logits.astype("float32")


def _sfnet_ohem_torch(labels, logits, ignore_label, thresh, min_kept):
    """SFNet's OhemCrossEntropy2dTensor rule, written in torch, as an oracle."""
    target = torch.from_numpy(labels.astype("int64")).reshape(-1)
    pred = torch.from_numpy(logits).permute(0, 3, 1, 2)
    valid = target != ignore_label
    safe = target * valid.long()
    num_valid = int(valid.sum())
    prob = F.softmax(pred, dim=1).permute(1, 0, 2, 3).reshape(pred.shape[1], -1)
    if min_kept <= num_valid and num_valid > 0:
        prob = prob.masked_fill(~valid, 1)
        true_prob = prob[safe, torch.arange(len(safe))]
        threshold = thresh
        index = true_prob.argsort()
        kth = true_prob[index[min(len(index), min_kept) - 1]]
        if kth > thresh:
            threshold = kth
        valid = valid & (true_prob <= threshold)
    target = safe.masked_fill(~valid, ignore_label).reshape(labels.shape)
    return F.cross_entropy(pred, target, ignore_index=ignore_label).numpy()


class TestAgainstTorch:
    @pytest.mark.parametrize("ignore_label", [255, -1])
    @pytest.mark.parametrize("weighted", [False, True])
    @pytest.mark.parametrize("trailing_one", [False, True])
    def test_matches_torch_cross_entropy(
        self, rng, ignore_label, weighted, trailing_one
    ):
        labels, logits = _labels_and_logits(rng, ignore_label=ignore_label)
        weights = [0.5, 1.0, 2.0, 0.25] if weighted else None
        loss = SegmentationCrossEntropy(
            ignore_label=ignore_label, class_weights=weights
        )
        y_true = labels[..., None] if trailing_one else labels
        value = ops.convert_to_numpy(loss(y_true, logits))
        expected = _torch_cross_entropy(labels, logits, ignore_label, weights)
        np.testing.assert_allclose(value, expected, rtol=1e-5)

    def test_probabilities_match_logits(self, rng):
        labels, logits = _labels_and_logits(rng)
        probs = ops.softmax(logits, axis=-1)
        from_probs = SegmentationCrossEntropy(from_logits=False)(labels, probs)
        from_logits = SegmentationCrossEntropy()(labels, logits)
        np.testing.assert_allclose(
            ops.convert_to_numpy(from_probs),
            ops.convert_to_numpy(from_logits),
            rtol=1e-4,
        )

    @pytest.mark.parametrize("regime", ["threshold", "min_kept", "all"])
    def test_ohem_matches_sfnet_rule(self, rng, regime):
        labels, logits = _labels_and_logits(rng)
        valid = labels != 255
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        true_prob = np.take_along_axis(
            probs, np.where(valid, labels, 0)[..., None], axis=-1
        )[..., 0]
        num_valid = int(valid.sum())
        num_hard = int((true_prob[valid] < 0.7).sum())
        assert 0 < num_hard < num_valid
        # Which rule decides: the threshold (more hard pixels than min_kept),
        # min_kept (fewer), or neither (min_kept above the valid count).
        min_kept = {
            "threshold": num_hard // 2,
            "min_kept": (num_hard + num_valid) // 2,
            "all": num_valid + 10,
        }[regime]
        loss = SegmentationCrossEntropy(ohem_threshold=0.7, ohem_min_kept=min_kept)
        value = ops.convert_to_numpy(loss(labels, logits))
        expected = _sfnet_ohem_torch(labels, logits, 255, 0.7, min_kept)
        np.testing.assert_allclose(value, expected, rtol=1e-5)
        plain = _torch_cross_entropy(labels, logits)
        assert (regime == "all") == bool(np.isclose(value, plain, rtol=1e-6))


class TestIgnoredPixels:
    def test_mean_ignores_ignored_pixels_rather_than_diluting(self):
        labels = np.array([[[0, 1], [255, 255]]], dtype="int32")
        logits = np.array([[[[2.0, 0.0], [0.0, 1.0]], [[5.0, -5.0], [9.0, 0.0]]]])
        logits = logits.astype("float32")
        value = float(ops.convert_to_numpy(SegmentationCrossEntropy()(labels, logits)))
        # Mean of the two labelled pixels only, not their sum over 4 pixels.
        labelled = [np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))]
        np.testing.assert_allclose(value, np.mean(labelled), rtol=1e-6)
        assert not np.isclose(value, np.sum(labelled) / 4)

    @pytest.mark.parametrize("ohem", [False, True])
    def test_gradient_is_zero_on_ignored_pixels(self, rng, value_and_gradient, ohem):
        labels, logits = _labels_and_logits(rng)
        kwargs = {"ohem_threshold": 0.7, "ohem_min_kept": 10} if ohem else {}
        loss = SegmentationCrossEntropy(**kwargs)
        value, gradient = value_and_gradient(lambda x: loss(labels, x), logits)
        ignored = labels == 255
        assert np.isfinite(value)
        assert np.all(gradient[ignored] == 0.0)
        assert np.any(gradient[~ignored] != 0.0)

    @pytest.mark.parametrize("ohem", [False, True])
    @pytest.mark.parametrize("weighted", [False, True])
    def test_all_ignored_batch_gives_zero_and_zero_gradient(
        self, value_and_gradient, ohem, weighted
    ):
        labels = np.full((2, 3, 3), 255, dtype="int32")
        logits = np.linspace(-3, 3, 2 * 3 * 3 * 4, dtype="float32").reshape(2, 3, 3, 4)
        loss = SegmentationCrossEntropy(
            class_weights=[1.0, 2.0, 3.0, 4.0] if weighted else None,
            ohem_threshold=0.7 if ohem else None,
        )
        value, gradient = value_and_gradient(lambda x: loss(labels, x), logits)
        assert value == 0.0
        assert np.all(gradient == 0.0)

    @pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
    def test_non_finite_logits_at_ignored_pixels_do_not_leak(self, rng, bad):
        labels, logits = _labels_and_logits(rng)
        expected = _torch_cross_entropy(labels, logits)
        logits[labels == 255] = bad
        loss = SegmentationCrossEntropy(ohem_threshold=0.9, ohem_min_kept=20)
        plain = ops.convert_to_numpy(SegmentationCrossEntropy()(labels, logits))
        np.testing.assert_allclose(plain, expected, rtol=1e-5)
        assert np.isfinite(ops.convert_to_numpy(loss(labels, logits)))

    def test_labels_outside_the_classes_are_left_out(self, rng):
        labels, logits = _labels_and_logits(rng)
        with_invalid = labels.copy()
        with_invalid[0, 0, :3] = [4, 9, -3]
        cleaned = with_invalid.copy()
        cleaned[0, 0, :3] = 255
        loss = SegmentationCrossEntropy()
        np.testing.assert_allclose(
            ops.convert_to_numpy(loss(with_invalid, logits)),
            ops.convert_to_numpy(loss(cleaned, logits)),
        )


class TestOhem:
    # True-class probabilities, one per pixel; the last two pixels are ignored.
    PROBABILITIES = np.array([[[0.1, 0.3, 0.5, 0.65, 0.8, 0.9, 0.95, 0.99, 0.5, 0.5]]])
    LABELS = np.array([[[1, 1, 1, 1, 1, 1, 1, 1, 255, 255]]], dtype="int32")

    def _loss(self, **kwargs):
        loss = SegmentationCrossEntropy(**kwargs)
        logits = _true_class_logits(self.PROBABILITIES)
        return float(ops.convert_to_numpy(loss(self.LABELS, logits)))

    def _expected(self, kept_probabilities):
        return float(np.mean(-np.log(kept_probabilities)))

    def test_threshold_binds(self):
        # Four pixels are below 0.7, more than min_kept=2.
        value = self._loss(ohem_threshold=0.7, ohem_min_kept=2)
        np.testing.assert_allclose(
            value, self._expected([0.1, 0.3, 0.5, 0.65]), rtol=1e-5
        )

    def test_min_kept_binds(self):
        # Only four pixels are below 0.7: the six hardest are kept.
        value = self._loss(ohem_threshold=0.7, ohem_min_kept=6)
        expected = self._expected([0.1, 0.3, 0.5, 0.65, 0.8, 0.9])
        np.testing.assert_allclose(value, expected, rtol=1e-5)

    def test_min_kept_above_valid_count_keeps_all_valid_pixels(self):
        value = self._loss(ohem_threshold=0.7, ohem_min_kept=100_000)
        expected = self._expected(self.PROBABILITIES[0, 0, :8])
        np.testing.assert_allclose(value, expected, rtol=1e-5)

    def test_zero_min_kept_uses_the_threshold_alone(self):
        value = self._loss(ohem_threshold=0.35, ohem_min_kept=0)
        np.testing.assert_allclose(value, self._expected([0.1, 0.3]), rtol=1e-5)

    def test_ties_at_the_kth_probability_are_all_kept(self):
        probabilities = np.array([[[0.9, 0.2, 0.8, 0.8, 0.95]]])
        labels = np.ones((1, 1, 5), dtype="int32")
        loss = SegmentationCrossEntropy(ohem_threshold=0.5, ohem_min_kept=2)
        value = float(
            ops.convert_to_numpy(loss(labels, _true_class_logits(probabilities)))
        )
        expected = self._expected(np.float32([0.2, 0.8, 0.8]))
        np.testing.assert_allclose(value, expected, rtol=1e-5)

    def test_easy_pixels_get_no_gradient(self, value_and_gradient):
        loss = SegmentationCrossEntropy(ohem_threshold=0.7, ohem_min_kept=2)
        logits = _true_class_logits(self.PROBABILITIES)
        _, gradient = value_and_gradient(lambda x: loss(self.LABELS, x), logits)
        kept = np.zeros(10, dtype=bool)
        kept[:4] = True
        assert np.all(gradient[0, 0, ~kept] == 0.0)
        assert np.all(np.abs(gradient[0, 0, kept]).sum(-1) > 0)


class TestReductionAndSampleWeight:
    def _per_pixel(self, labels, logits):
        return _torch_cross_entropy(labels, logits, reduction="none")

    def test_per_image_sample_weight(self, rng):
        labels, logits = _labels_and_logits(rng)
        sample_weight = np.array([0.0, 2.0], dtype="float32")
        per_pixel = self._per_pixel(labels, logits)  # 0 at ignored pixels
        kept = labels != 255
        scaled = per_pixel * sample_weight[:, None, None]
        expectations = {
            "sum_over_batch_size": scaled.sum() / kept.sum(),
            "mean_with_sample_weight": scaled.sum()
            / (kept * sample_weight[:, None, None]).sum(),
            "sum": scaled.sum(),
        }
        for reduction, expected in expectations.items():
            loss = SegmentationCrossEntropy(reduction=reduction)
            value = ops.convert_to_numpy(
                loss(labels, logits, sample_weight=sample_weight)
            )
            np.testing.assert_allclose(value, expected, rtol=1e-5, err_msg=reduction)

    @pytest.mark.parametrize("reduction", ["none", None])
    def test_no_reduction_returns_pixel_losses(self, rng, reduction):
        labels, logits = _labels_and_logits(rng)
        sample_weight = rng.random(labels.shape).astype("float32")
        loss = SegmentationCrossEntropy(reduction=reduction)
        values = ops.convert_to_numpy(
            loss(labels, logits, sample_weight=sample_weight[..., None])
        )
        assert values.shape == labels.shape
        expected = self._per_pixel(labels, logits) * sample_weight
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-7)
        assert np.all(values[labels == 255] == 0.0)

    def test_mean_reduction_equals_sum_over_batch_size(self, rng):
        labels, logits = _labels_and_logits(rng)
        a = SegmentationCrossEntropy(reduction="mean")(labels, logits)
        b = SegmentationCrossEntropy()(labels, logits)
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b))

    def test_bad_sample_weight_shape_names_it(self, rng):
        labels, logits = _labels_and_logits(rng)
        with pytest.raises(ValueError, match=r"sample_weight.shape=\(2, 8\)"):
            SegmentationCrossEntropy()(labels, logits, sample_weight=np.ones((2, 8)))


class TestPrecisionAndCompilation:
    @pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
    def test_low_precision_logits_are_computed_in_float32(self, rng, dtype):
        labels, logits = _labels_and_logits(rng)
        low = ops.cast(logits, dtype)
        loss = SegmentationCrossEntropy(ohem_threshold=0.7, ohem_min_kept=10)
        value = loss(labels, low)
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        reference = loss(labels, ops.cast(low, "float32"))
        np.testing.assert_allclose(
            ops.convert_to_numpy(value), ops.convert_to_numpy(reference), rtol=1e-6
        )

    @pytest.mark.skipif(
        BACKEND not in ("tensorflow", "jax"),
        reason="XLA compilation applies to the TensorFlow and JAX backends; "
        "torch runs the loss eagerly (tested everywhere else).",
    )
    @pytest.mark.parametrize("ohem", [False, True])
    def test_compiles_with_xla_and_dynamic_batch(self, rng, ohem):
        labels, logits = _labels_and_logits(rng)
        kwargs = {"ohem_threshold": 0.7, "ohem_min_kept": 20} if ohem else {}
        loss = SegmentationCrossEntropy(class_weights=[1.0, 2.0, 1.0, 0.5], **kwargs)
        if BACKEND == "tensorflow":
            import tensorflow as tf

            compiled = tf.function(
                loss.__call__,
                jit_compile=True,
                input_signature=[
                    tf.TensorSpec((None, 8, 8), tf.int32),
                    tf.TensorSpec((None, 8, 8, 4), tf.float32),
                ],
            )
        else:
            import jax

            compiled = jax.jit(loss.__call__)
        value = ops.convert_to_numpy(compiled(labels, logits))
        eager = ops.convert_to_numpy(loss(labels, logits))
        np.testing.assert_allclose(value, eager, rtol=1e-5)


class TestArgumentsAndShapes:
    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"ignore_label": 2.5}, "ignore_label"),
            ({"class_weights": [1.0, -1.0]}, "class_weights"),
            ({"class_weights": [[1.0]]}, "class_weights"),
            ({"ohem_threshold": 0.0}, "ohem_threshold"),
            ({"ohem_threshold": 1.5}, "ohem_threshold"),
            ({"ohem_min_kept": -1}, "ohem_min_kept"),
            ({"ohem_min_kept": 2.5}, "ohem_min_kept"),
            ({"reduction": "avg"}, "reduction"),
        ],
    )
    def test_bad_arguments_raise(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            SegmentationCrossEntropy(**kwargs)

    def test_class_weight_count_must_match_classes(self, rng):
        labels, logits = _labels_and_logits(rng)
        with pytest.raises(ValueError, match=r"class_weights.*Received: 3 weights"):
            SegmentationCrossEntropy(class_weights=[1, 1, 1])(labels, logits)

    def test_mismatched_shapes_name_both(self, rng):
        labels, logits = _labels_and_logits(rng)
        with pytest.raises(ValueError, match=r"y_true.shape=\(2, 8, 6\)"):
            SegmentationCrossEntropy()(labels[:, :, :6], logits)
        with pytest.raises(ValueError, match=r"y_true.shape=\(2, 8\)"):
            SegmentationCrossEntropy()(labels[:, :, 0], logits)


def test_serialization_round_trip():
    loss = SegmentationCrossEntropy(
        ignore_label=-1,
        class_weights=[1.0, 2.0],
        ohem_threshold=0.7,
        ohem_min_kept=1000,
        reduction="mean_with_sample_weight",
        name="ce",
    )
    config = loss.get_config()
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert isinstance(restored, SegmentationCrossEntropy)
    assert restored.get_config() == config
    assert config["class_weights"] == [1.0, 2.0]
    assert config["ohem_min_kept"] == 1000
    assert config["reduction"] == "mean_with_sample_weight"

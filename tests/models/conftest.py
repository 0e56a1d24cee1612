"""Fixtures shared by the backbone and segmenter tests."""

import keras
import pytest


@pytest.fixture
def no_downloads(monkeypatch):
    """Makes every preset download path fail loudly."""
    import kagglehub
    import keras_cv
    import keras_hub

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(kagglehub, "model_download", refuse)
    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)
    for cls in (keras_cv.models.ResNetBackbone, keras_cv.models.MiTBackbone):
        monkeypatch.setattr(cls, "from_preset", refuse)

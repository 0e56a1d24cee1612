"""A custom layer registered for deserialisation, for the subprocess tests."""

import keras


@keras.saving.register_keras_serializable(package="keras_srcrm_tests")
class Scale(keras.layers.Layer):
    """Multiplies its input by a constant."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}

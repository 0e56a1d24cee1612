"""Learning-rate schedules for segmentation training."""

import keras
from keras import ops

from keras_srcrm.utils.validation import check_int
from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import check_positive_number


@keras.saving.register_keras_serializable(package="keras_srcrm")
class PolynomialDecayWithWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Polynomial ("poly") decay with an optional linear warmup.

    The schedule of most semantic segmentation recipes (DeepLab, PSPNet,
    SFNet, mmsegmentation): from step 0 to `decay_steps`,

        poly(step) = (initial - end) * (1 - step / decay_steps) ** power + end

    and `end_learning_rate` from `decay_steps` on. During the first
    `warmup_steps` steps the poly value is scaled by a factor that grows
    linearly from `warmup_ratio` at step 0 to 1 at step `warmup_steps`:

        lr(step) = poly(step) * (warmup_ratio + (1 - warmup_ratio)
                                 * step / warmup_steps)

    so the schedule joins the poly curve at the end of the warmup without a
    jump (mmsegmentation's "linear" warmup). The decay counts steps from 0,
    not from the end of the warmup.

    The value is computed with `keras.ops` in float32, so the schedule works
    with the optimizer's traced step counter inside compiled train steps on
    every backend.

    Args:
        initial_learning_rate: The learning rate at the end of the warmup
            (at step 0 without warmup); a positive number.
        decay_steps: Number of steps of the decay, usually the total number
            of training steps; a positive int.
        power: Exponent of the decay, a positive number. Defaults to 0.9.
        end_learning_rate: The learning rate from `decay_steps` on, in
            `[0, initial_learning_rate]`. Defaults to 0.
        warmup_steps: Number of warmup steps, an int in `[0, decay_steps]`.
            Defaults to 0 (no warmup).
        warmup_ratio: The warmup factor at step 0, in `[0, 1]`. Defaults to
            1e-6.
        name: Name of the schedule.

    Returns:
        Called with a step (an int or a scalar tensor), the float32 learning
        rate at that step.

    Example:

    ```python
    schedule = PolynomialDecayWithWarmup(
        0.01, decay_steps=80_000, warmup_steps=1_000
    )
    optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
    float(schedule(40_000))  # 0.01 * 0.5 ** 0.9 = 0.00536
    ```
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        power=0.9,
        end_learning_rate=0.0,
        warmup_steps=0,
        warmup_ratio=1e-6,
        name="PolynomialDecayWithWarmup",
    ):
        super().__init__()
        check_positive_number("initial_learning_rate", initial_learning_rate)
        check_positive_int("decay_steps", decay_steps)
        check_positive_number("power", power)
        check_number(
            "end_learning_rate",
            end_learning_rate,
            minimum=0.0,
            maximum=initial_learning_rate,
        )
        check_int("warmup_steps", warmup_steps, minimum=0, maximum=decay_steps)
        check_number("warmup_ratio", warmup_ratio, minimum=0.0, maximum=1.0)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.power = float(power)
        self.end_learning_rate = float(end_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.warmup_ratio = float(warmup_ratio)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = ops.cast(ops.convert_to_tensor(step), "float32")
            step = ops.clip(step, 0.0, float(self.decay_steps))
            remaining = 1.0 - step / float(self.decay_steps)
            learning_rate = (self.initial_learning_rate - self.end_learning_rate) * (
                ops.power(remaining, self.power)
            ) + self.end_learning_rate
            if self.warmup_steps > 0:
                progress = ops.minimum(step / float(self.warmup_steps), 1.0)
                factor = self.warmup_ratio + (1.0 - self.warmup_ratio) * progress
                learning_rate = learning_rate * factor
            return ops.cast(learning_rate, "float32")

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "end_learning_rate": self.end_learning_rate,
            "warmup_steps": self.warmup_steps,
            "warmup_ratio": self.warmup_ratio,
            "name": self.name,
        }

"""The shared argument checks: one rule per kind of value, one message style."""

import re

import numpy as np
import pytest

from keras_srcrm.utils import validation as v

MESSAGE = re.compile(r"^`\w+` must be .+\. Received: \w+=.+$", re.DOTALL)


def _message(check, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        check(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    "check, args",
    [
        (v.check_bool, ("flag", 1)),
        (v.check_positive_int, ("filters", 0)),
        (v.check_positive_int, ("filters", True)),
        (v.check_int, ("steps", 2.0)),
        (v.check_number, ("rate", float("nan"))),
        (v.check_positive_number, ("rate", 0.0)),
        (v.check_choice, ("mode", "nearest", ("bilinear", "area"))),
        (v.check_pair, ("size", (3, 0))),
        (v.check_interval, ("scale_range", (2.0, 1.0))),
        (v.check_positive_numbers, ("scales", [])),
        (v.check_class_weights, ([1.0, -1.0],)),
    ],
)
def test_every_check_names_the_argument_and_the_value(check, args):
    message = _message(check, *args)
    assert MESSAGE.match(message), message


def test_num_classes_has_one_rule():
    for good in (2, 19, np.int64(150)):
        assert v.check_num_classes(good) == int(good)
        assert type(v.check_num_classes(good)) is int
    for bad in (True, 1, 0, -3, 2.0, "19", None):
        message = _message(v.check_num_classes, bad)
        assert "`num_classes` must be an int >= 2" in message
        assert f"num_classes={bad!r}" in message


def test_booleans_are_not_numbers_and_numpy_integers_are_ints():
    assert v.check_positive_int("n", np.int32(3)) == 3
    for check in (v.check_positive_int, v.check_positive_number):
        with pytest.raises(ValueError, match="Received: n=True"):
            check("n", True)
    assert v.check_int("n", 5, minimum=0, maximum=5) == 5
    with pytest.raises(ValueError, match=r"an int in \[0, 4\]"):
        v.check_int("n", 5, minimum=0, maximum=4)


def test_choice_is_exact():
    assert v.check_choice("level", 1, (0, 1, 2)) == 1
    assert v.check_choice("activation", None, ("self", None)) is None
    for bad in (True, 1.0, "1"):
        with pytest.raises(ValueError, match=r"one of \(0, 1, 2\)"):
            v.check_choice("level", bad, (0, 1, 2))
    with pytest.raises(ValueError):
        v.check_choice("jit_compile", 1, ("auto", True, False))


def test_pairs_intervals_and_sequences():
    assert v.check_pair("size", 8) == (8, 8)
    assert v.check_pair("size", [4, np.int64(6)]) == (4, 6)
    with pytest.raises(ValueError, match="each >= 8"):
        v.check_pair("size", (4, 16), minimum=8)
    assert v.check_interval("r", (0.5, 2)) == (0.5, 2.0)
    with pytest.raises(ValueError, match="0.0 <= low"):
        v.check_interval("r", (-1.0, 2.0), minimum=0.0)
    assert v.check_positive_numbers("scales", (0.5, 1)) == (0.5, 1.0)
    with pytest.raises(ValueError):
        v.check_positive_numbers("scales", (1.0, float("inf")))


def test_ignore_label_and_class_weights():
    assert v.check_ignore_label(255, 19) == 255
    assert v.check_ignore_label(None, allow_none=True) is None
    with pytest.raises(ValueError, match="outside the train ids"):
        v.check_ignore_label(3, 19)
    with pytest.raises(ValueError, match="an int or None"):
        v.check_ignore_label(2.5, allow_none=True)
    assert v.check_class_weights(np.ones(3), 3) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="one weight per class"):
        v.check_class_weights([1.0, 2.0], 3)


def test_layer_input_checks_name_the_layer_and_the_inputs():
    class Layer:
        pass

    layer = Layer()
    names = ("high_level", "low_level")
    with pytest.raises(ValueError, match=r"Layer expects a list of 2 tensors"):
        v.check_layer_inputs(layer, (1, 8, 8, 3), names)
    with pytest.raises(ValueError, match=r"`low_level` to be a rank-4 tensor"):
        v.check_layer_inputs(layer, [(1, 4, 4, 3), (1, 8, 8)], names)
    with pytest.raises(ValueError, match="channel count of `high_level`"):
        v.check_layer_inputs(layer, [(1, 4, 4, None), (1, 8, 8, 3)], names)
    with pytest.raises(ValueError, match="same batch size"):
        v.check_same_batch(layer, [(1, 4, 4, 3), (2, 8, 8, 3)], names)
    with pytest.raises(ValueError, match=r"add a batch axis"):
        v.check_image_batch(np.zeros((8, 8, 3)))


def test_a_front_end_spells_the_arguments_its_users_typed():
    assert v.spell("overwrite", True) == "`overwrite=True`"
    assert v.spell("split") == "`split`"
    spellings = {("overwrite", True): "--overwrite", "split": "--split"}
    with v.argument_spellings(spellings):
        assert v.spell("overwrite", True) == "--overwrite"
        assert v.spell("split", "val") == "--split val"
        assert v.spell("overwrite", 1) == "`overwrite=1`"  # True is not 1
        with pytest.raises(ValueError, match=r"^`--split` .* Received: --split='x'$"):
            v.check_choice("split", "x", ("train", "val"))
    # Only inside the block.
    assert v.spell("overwrite", True) == "`overwrite=True`"


def test_library_messages_use_the_spelling(tmp_path):
    from keras_srcrm.models.backbones import load_backbone
    from keras_srcrm.training import training_callbacks

    (tmp_path / "best.keras").write_bytes(b"")
    spellings = {
        ("overwrite", True): "--overwrite",
        ("load_weights", False): "--backbone-weights none",
    }
    with v.argument_spellings(spellings):
        with pytest.raises(ValueError, match="Pass --overwrite to delete them"):
            training_callbacks(tmp_path)
        with pytest.raises(ValueError, match="Pass --backbone-weights none for"):
            load_backbone("hub_resnet_mini", load_weights=True)

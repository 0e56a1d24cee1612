"""Label tables and dataset infos against the datasets' official tables."""

import numpy as np
import pytest

from keras_srcrm.data import labels
from tests.data.data_layouts import ADE20K_INSTANCE_NAMES
from tests.data.data_layouts import CITYSCAPES_EVALUATED


def test_cityscapes_table_maps_the_19_classes_and_ignores_the_rest():
    table = labels.cityscapes_lookup_table()
    assert table.shape == (256,) and table.dtype == np.int32
    for label_id in range(256):
        assert table[label_id] == CITYSCAPES_EVALUATED.get(label_id, 255), label_id
    assert labels.CITYSCAPES_INFO.num_classes == 19
    assert labels.CITYSCAPES_INFO.class_names[0] == "road"
    assert labels.CITYSCAPES_INFO.class_names[18] == "bicycle"
    assert labels.CITYSCAPES_INFO.class_names[5] == "pole"


def test_cityscapes_table_uses_the_given_ignore_label():
    table = labels.cityscapes_lookup_table(ignore_label=-1)
    assert table[0] == -1 and table[7] == 0 and table[34] == -1


def test_ade20k_table_shifts_by_one_and_ignores_other():
    table = labels.ade20k_lookup_table()
    assert table[0] == 255
    np.testing.assert_array_equal(table[1:151], np.arange(150))
    assert np.all(table[151:] == 255)
    assert labels.ADE20K_INFO.num_classes == 150
    assert labels.ADE20K_INFO.class_names[:3] == ("wall", "building", "sky")
    assert labels.ADE20K_INFO.class_names[-1] == "flag"


def test_ade20k_instance_table_lands_on_the_same_object_names():
    # The id table and the two name lists come from three separate files;
    # each of the 100 categories must map to the class of the same name.
    table = labels.ade20k_instance_lookup_table()
    assert table[0] == 255 and np.all(table[101:] == 255)
    for category, name in enumerate(ADE20K_INSTANCE_NAMES, 1):
        assert labels.ADE20K_CLASS_NAMES[table[category]] == name, category


def test_bdd100k_uses_the_cityscapes_train_ids():
    assert labels.BDD100K_INFO.class_names == labels.CITYSCAPES_INFO.class_names


def test_dataset_info_lookup():
    assert labels.dataset_info("synthetic").num_classes == 7
    with pytest.raises(ValueError, match="name='kitti'"):
        labels.dataset_info("kitti")


def test_label_lookup_table_drops_out_of_range_train_ids():
    table = labels.label_lookup_table({3: 0, 9: 1, 10: 7}, num_classes=2)
    assert table[3] == 0 and table[9] == 1
    assert table[10] == 255 and table[0] == 255


def test_label_lookup_table_identity():
    table = labels.label_lookup_table(None, num_classes=19)
    np.testing.assert_array_equal(table[:19], np.arange(19))
    assert np.all(table[19:] == 255)


@pytest.mark.parametrize("ignore_label", [0, 18, 1.5, True])
def test_ignore_label_must_not_be_a_class(ignore_label):
    with pytest.raises(ValueError, match="ignore_label"):
        labels.label_lookup_table(None, num_classes=19, ignore_label=ignore_label)


def test_label_lookup_table_rejects_keys_outside_the_table():
    with pytest.raises(ValueError, match="key 300"):
        labels.label_lookup_table({300: 1}, num_classes=2)

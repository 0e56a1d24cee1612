"""What the labels of each dataset mean: class names and label-id tables.

Pure Python and NumPy: nothing here needs TensorFlow. The tables are facts
from the datasets' official tools (cityscapesScripts' `labels.py`, the
ADE20K SceneParsing `objectInfo150.txt` and the Places Challenge 2017 instance
category mapping, the BDD100K label format page).
"""

import dataclasses

import numpy as np

from keras_srcrm.utils.validation import check_ignore_label

DEFAULT_IGNORE_LABEL = 255


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Names the classes of a segmentation dataset.

    Masks produced by this package hold train ids: `class_names[i]` is the
    name of train id `i`, and every other pixel holds the ignore label.

    Args:
        name: Short dataset name, e.g. `"cityscapes"`.
        class_names: Name of each train id, in train-id order.

    Example:

    ```python
    info = keras_srcrm.data.dataset_info("cityscapes")
    info.num_classes  # 19
    info.class_names[0]  # "road"
    ```
    """

    name: str
    class_names: tuple

    @property
    def num_classes(self):
        """The number of classes (train ids `0 .. num_classes - 1`)."""
        return len(self.class_names)


# cityscapesScripts `helpers/labels.py`: (name, label id, train id); 255 = not
# evaluated. Label ids absent from this table (and license plate, id -1) are
# ignored too.
CITYSCAPES_LABELS = (
    ("unlabeled", 0, 255),
    ("ego vehicle", 1, 255),
    ("rectification border", 2, 255),
    ("out of roi", 3, 255),
    ("static", 4, 255),
    ("dynamic", 5, 255),
    ("ground", 6, 255),
    ("road", 7, 0),
    ("sidewalk", 8, 1),
    ("parking", 9, 255),
    ("rail track", 10, 255),
    ("building", 11, 2),
    ("wall", 12, 3),
    ("fence", 13, 4),
    ("guard rail", 14, 255),
    ("bridge", 15, 255),
    ("tunnel", 16, 255),
    ("pole", 17, 5),
    ("polegroup", 18, 255),
    ("traffic light", 19, 6),
    ("traffic sign", 20, 7),
    ("vegetation", 21, 8),
    ("terrain", 22, 9),
    ("sky", 23, 10),
    ("person", 24, 11),
    ("rider", 25, 12),
    ("car", 26, 13),
    ("truck", 27, 14),
    ("bus", 28, 15),
    ("caravan", 29, 255),
    ("trailer", 30, 255),
    ("train", 31, 16),
    ("motorcycle", 32, 17),
    ("bicycle", 33, 18),
    ("license plate", -1, 255),
)

CITYSCAPES_CLASS_NAMES = tuple(
    name
    for name, _, train_id in sorted(CITYSCAPES_LABELS, key=lambda r: r[2])
    if train_id != 255
)

# BDD100K's semantic segmentation masks already hold these 19 train ids.
BDD100K_CLASS_NAMES = CITYSCAPES_CLASS_NAMES

# ADE20K SceneParsing `objectInfo150.txt`, first synonym of each class; the
# PNG value of class `i` is `i + 1` (0 = "other", not evaluated).
# fmt: off
ADE20K_CLASS_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed",
    "windowpane", "grass", "cabinet", "sidewalk", "person", "earth", "door",
    "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill",
    "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel",
    "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage",
    "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
# fmt: on

# Places Challenge 2017 instance annotations (what TFDS `scene_parse150`
# holds): the red channel is one of 100 "thing" categories, 1..100, mapped
# here to its SceneParse150 class id (1-based); 0 = no instance.
# fmt: off
ADE20K_INSTANCE_TO_SCENEPARSE = (
    8, 9, 11, 13, 15, 16, 19, 20, 21, 23, 24, 25, 28, 31, 32, 33, 34, 36, 37,
    38, 39, 40, 42, 43, 44, 45, 46, 48, 50, 51, 54, 56, 57, 58, 59, 63, 65, 66,
    67, 68, 70, 71, 72, 73, 74, 75, 76, 77, 79, 81, 82, 83, 84, 86, 87, 88, 89,
    90, 91, 93, 94, 96, 98, 99, 103, 104, 105, 108, 109, 111, 112, 113, 116,
    117, 119, 120, 121, 122, 124, 125, 126, 127, 128, 130, 131, 133, 134, 135,
    136, 137, 138, 139, 140, 143, 144, 145, 147, 148, 149, 150,
)
# fmt: on

# Fixed by `keras_srcrm.data.synthetic`: see its module docstring.
SYNTHETIC_CLASS_NAMES = (
    "background",
    "ground",
    "polygon",
    "disc",
    "box",
    "pole",
    "wire",
)

CITYSCAPES_INFO = DatasetInfo("cityscapes", CITYSCAPES_CLASS_NAMES)
ADE20K_INFO = DatasetInfo("ade20k", ADE20K_CLASS_NAMES)
BDD100K_INFO = DatasetInfo("bdd100k", BDD100K_CLASS_NAMES)
SYNTHETIC_INFO = DatasetInfo("synthetic", SYNTHETIC_CLASS_NAMES)

_INFOS = {
    info.name: info
    for info in (CITYSCAPES_INFO, ADE20K_INFO, BDD100K_INFO, SYNTHETIC_INFO)
}


def dataset_info(name):
    """Returns the class names and count of a built-in dataset.

    Args:
        name: One of `"cityscapes"`, `"ade20k"`, `"bdd100k"`, `"synthetic"`.

    Returns:
        A `DatasetInfo`.

    Raises:
        ValueError: If `name` is not a built-in dataset.

    Example:

    ```python
    keras_srcrm.data.dataset_info("ade20k").num_classes  # 150
    ```
    """
    try:
        return _INFOS[name]
    except KeyError:
        raise ValueError(
            f"`name` must be one of {sorted(_INFOS)}. Received: name={name!r}"
        ) from None


def label_lookup_table(
    mapping, num_classes, ignore_label=DEFAULT_IGNORE_LABEL, size=256
):
    """Builds the table that turns raw mask values into train ids.

    `table[v]` is the train id of raw value `v`: `mapping[v]` when `v` is in
    `mapping` and that value lies in `[0, num_classes)`, `ignore_label`
    otherwise. Raw values at or beyond `size` are also mapped to the ignore
    label by the readers of this package.

    Args:
        mapping: A dict `{raw value: train id}`, or `None` for the identity
            on `0 .. num_classes - 1` (masks that already hold train ids).
        num_classes: The number of classes.
        ignore_label: The label of pixels that are not evaluated.
        size: Number of raw values covered, 256 for 8-bit masks.

    Returns:
        An int32 NumPy array of shape `(size,)`.

    Raises:
        ValueError: If a key of `mapping` is not in `[0, size)`, or
            `ignore_label` is one of the train ids.

    Example:

    ```python
    table = label_lookup_table({7: 0, 26: 13}, num_classes=19)
    table[7], table[26], table[0]  # 0, 13, 255
    ```
    """
    check_ignore_label(ignore_label, num_classes)
    if mapping is None:
        mapping = {value: value for value in range(min(num_classes, size))}
    table = np.full((size,), ignore_label, dtype=np.int32)
    for raw, train_id in mapping.items():
        if not 0 <= int(raw) < size:
            raise ValueError(
                f"Keys of `mapping` must be raw mask values in [0, {size}). "
                f"Received: key {raw!r}"
            )
        if 0 <= int(train_id) < num_classes:
            table[int(raw)] = int(train_id)
    return table


def cityscapes_lookup_table(ignore_label=DEFAULT_IGNORE_LABEL):
    """Returns the table from Cityscapes label ids to the 19 train ids.

    Args:
        ignore_label: The label of the 15 void/unevaluated classes and of
            any value outside the official table.

    Returns:
        An int32 NumPy array of shape `(256,)`.
    """
    mapping = {i: t for _, i, t in CITYSCAPES_LABELS if i >= 0 and t != 255}
    return label_lookup_table(mapping, len(CITYSCAPES_CLASS_NAMES), ignore_label)


def ade20k_lookup_table(ignore_label=DEFAULT_IGNORE_LABEL):
    """Returns the table from ADEChallengeData2016 PNG values to train ids.

    Value 0 ("other") becomes the ignore label, values 1..150 become 0..149.

    Args:
        ignore_label: The label of "other" pixels.

    Returns:
        An int32 NumPy array of shape `(256,)`.
    """
    mapping = {value: value - 1 for value in range(1, 151)}
    return label_lookup_table(mapping, len(ADE20K_CLASS_NAMES), ignore_label)


def ade20k_instance_lookup_table(ignore_label=DEFAULT_IGNORE_LABEL):
    """Returns the table from ADE20K instance categories to the 150 train ids.

    For the red channel of the Places Challenge 2017 instance annotations
    (TFDS `scene_parse150`): categories 1..100 become the train id of the
    same object among the 150 SceneParse classes; 0 (stuff and unlabelled
    pixels) becomes the ignore label.

    Args:
        ignore_label: The label of pixels that are not an instance.

    Returns:
        An int32 NumPy array of shape `(256,)`.
    """
    mapping = {
        category: scene_id - 1
        for category, scene_id in enumerate(ADE20K_INSTANCE_TO_SCENEPARSE, 1)
    }
    return label_lookup_table(mapping, len(ADE20K_CLASS_NAMES), ignore_label)

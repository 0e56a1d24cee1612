"""Helpers for the data tests: write small datasets in the official layouts.

File names, directory trees and encodings follow the real datasets; only the
image sizes are small (except where TFDS fixes them).
"""

import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

Image = pytest.importorskip(
    "PIL.Image", reason="the data tests write files with Pillow"
)

# cityscapesScripts helpers/labels.py: label id -> train id of the 19
# evaluated classes, written out independently of the package's table.
CITYSCAPES_EVALUATED = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip

# Places Challenge 2017 instanceInfo100_train.txt, in category order 1..100.
ADE20K_INSTANCE_NAMES = (
    "bed", "windowpane", "cabinet", "person", "door", "table", "curtain",
    "chair", "car", "painting", "sofa", "shelf", "mirror", "armchair", "seat",
    "fence", "desk", "wardrobe", "lamp", "bathtub", "railing", "cushion", "box",
    "column", "signboard", "chest of drawers", "counter", "sink", "fireplace",
    "refrigerator", "stairs", "case", "pool table", "pillow", "screen door",
    "bookcase", "coffee table", "toilet", "flower", "book", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair",
    "boat", "arcade machine", "bus", "towel", "light", "truck", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane",
    "apparel", "pole", "bannister", "ottoman", "bottle", "van", "ship",
    "fountain", "washer", "plaything", "stool", "barrel", "basket", "bag",
    "minibike", "oven", "ball", "food", "step", "trade name", "microwave", "pot",
    "animal", "bicycle", "dishwasher", "screen", "sculpture", "hood", "sconce",
    "vase", "traffic light", "tray", "ashcan", "fan", "plate", "monitor",
    "bulletin board", "radiator", "glass", "clock", "flag",
)  # fmt: skip


def encode(array, format, mode=None):
    """Encodes an array as PNG or JPEG bytes."""
    buffer = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode)
    image.save(buffer, format=format)
    return buffer.getvalue()


def write(path, data):
    """Writes bytes to `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def blocky_image(rng, height, width, block=1):
    """A random uint8 RGB image made of `block` x `block` squares."""
    small = rng.integers(0, 256, size=(-(-height // block), -(-width // block), 3))
    big = np.kron(small, np.ones((block, block, 1), dtype=small.dtype))
    return big[:height, :width].astype(np.uint8)


def striped_mask(values, height, width, stripe=1):
    """A uint8 mask whose `stripe`-wide columns cycle through `values`."""
    values = np.asarray(values, dtype=np.uint8)
    row = values[(np.arange(width) // stripe) % len(values)]
    return np.broadcast_to(row, (height, width)).copy()


def map_values(mask, mapping, ignore=255):
    """Applies a dict to every pixel, `ignore` where a value is not in it."""
    out = np.full(mask.shape, ignore, dtype=np.int32)
    for raw, train_id in mapping.items():
        out[mask == raw] = train_id
    return out


def as_numpy(dataset):
    """Lists a dataset of `(image, mask)` as NumPy pairs."""
    return [(image.numpy(), mask.numpy()) for image, mask in dataset]


# --- Cityscapes -----------------------------------------------------------

CITYSCAPES_FRAMES = {
    "train": [("aachen", 0, 19), ("bochum", 0, 313)],
    "val": [("frankfurt", 0, 294)],
    "test": [("berlin", 0, 19)],
}


def cityscapes_files(rng, height=16, width=40):
    """Returns `{relative path: bytes}` of a small extracted Cityscapes.

    Each labelIds mask holds every label id 0..33 (stripes of width 1).
    """
    files = {}
    for split, frames in CITYSCAPES_FRAMES.items():
        for city, sequence, frame in frames:
            stem = f"{city}_{sequence:06d}_{frame:06d}"
            image = blocky_image(rng, height, width, block=16 if height >= 512 else 1)
            label_ids = striped_mask(
                np.arange(34), height, width, 16 if width >= 512 else 1
            )
            folder = f"{split}/{city}"
            files[f"leftImg8bit/{folder}/{stem}_leftImg8bit.png"] = encode(image, "PNG")
            gt = f"gtFine/{folder}/{stem}_gtFine"
            files[f"{gt}_labelIds.png"] = encode(label_ids, "PNG")
            files[f"{gt}_instanceIds.png"] = encode(
                label_ids.astype(np.uint16) * 1000, "PNG"
            )
            files[f"{gt}_color.png"] = encode(
                np.zeros((height, width, 4), np.uint8), "PNG"
            )
            files[f"{gt}_polygons.json"] = json.dumps({"objects": []}).encode()
    return files


def write_tree(root, files):
    """Writes `{relative path: bytes}` under `root`."""
    for relative, data in files.items():
        write(root / relative, data)
    return root


def write_cityscapes_zips(directory, files):
    """Writes the two official zips (with their README and license)."""
    for name, top in (
        ("leftImg8bit_trainvaltest.zip", "leftImg8bit/"),
        ("gtFine_trainvaltest.zip", "gtFine/"),
    ):
        with zipfile.ZipFile(directory / name, "w") as archive:
            archive.writestr("README", b"The Cityscapes Dataset.\n")
            archive.writestr("license.txt", b"Cityscapes license.\n")
            for relative, data in files.items():
                if relative.startswith(top):
                    archive.writestr(relative, data)


# --- ADE20K ---------------------------------------------------------------


def ade20k_files(rng, height=12, width=160):
    """Returns `{relative path: bytes}` of a small `ADEChallengeData2016`.

    Each annotation holds every value 0..150.
    """
    files = {"objectInfo150.txt": b"Idx\tRatio\tTrain\tVal\tName\n"}
    for split, prefix in (("training", "ADE_train"), ("validation", "ADE_val")):
        for number in (1, 2):
            stem = f"{prefix}_{number:08d}"
            files[f"images/{split}/{stem}.jpg"] = encode(
                blocky_image(rng, height, width, block=4), "JPEG"
            )
            files[f"annotations/{split}/{stem}.png"] = encode(
                striped_mask(np.arange(151), height, width), "PNG"
            )
    return files


def ade20k_instance_annotation(height, width, number):
    """An RGB instance mask: red = category 0..100, green = instance id."""
    red = striped_mask(np.arange(101), height, width)
    green = ((np.arange(width) + number) % 7).astype(np.uint8)
    green = np.broadcast_to(green, (height, width))
    return np.stack([red, green, np.zeros_like(red)], axis=-1)


def write_scene_parse150_tars(directory, rng, height=8, width=110):
    """Writes `images.tar` and `annotations_instance.tar` as TFDS expects.

    Returns:
        `{(split, stem): (image bytes, annotation array)}`.
    """
    contents = {}
    with (
        tarfile.open(directory / "images.tar", "w") as images,
        tarfile.open(directory / "annotations_instance.tar", "w") as annotations,
    ):
        for split, prefix in (("training", "ADE_train"), ("validation", "ADE_val")):
            for number in (1, 2):
                stem = f"{prefix}_{number:08d}"
                jpeg = encode(blocky_image(rng, height, width, block=2), "JPEG")
                annotation = ade20k_instance_annotation(height, width, number)
                _add(images, f"images/{split}/{stem}.jpg", jpeg)
                _add(annotations, f"annotations_instance/{split}/{stem}.png",
                     encode(annotation, "PNG"))  # fmt: skip
                contents[(split, stem)] = (jpeg, annotation)
    return contents


def _add(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


# --- BDD100K --------------------------------------------------------------


def bdd100k_files(rng, height=9, width=24):
    """Returns `{relative path: bytes}` of a small `bdd100k` directory.

    Masks hold train ids 0..18 and 255, plus two stray values (19, 200).
    """
    files = {}
    names = {
        "train": ["0a0a0b1a-7c39d841", "0a0ba14e-98a0df9c"],
        "val": ["7d06fefd-f7be05a6"],
        "test": ["ac517380-00000000"],
    }
    values = list(range(19)) + [255, 19, 200]
    for split, stems in names.items():
        for stem in stems:
            files[f"images/10k/{split}/{stem}.jpg"] = encode(
                blocky_image(rng, height, width, block=3), "JPEG"
            )
            if split == "test":
                continue
            mask = striped_mask(values, height, width)
            files[f"labels/sem_seg/masks/{split}/{stem}.png"] = encode(mask, "PNG")
            files[f"labels/sem_seg/colormaps/{split}/{stem}.png"] = encode(
                np.zeros((height, width, 3), np.uint8), "PNG"
            )
    files["labels/sem_seg/polygons/sem_seg_train.json"] = b"[]"
    files["labels/sem_seg/polygons/sem_seg_val.json"] = b"[]"
    return files

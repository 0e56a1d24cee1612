"""Which family a backbone model belongs to.

Each family module exposes `NAME`, `matches(model)`,
`pyramid_candidates(model)` and `preprocessing(model)`. KerasHub and KerasCV
models are recognised by their pyramid attributes, so neither library is
imported here.
"""

from keras_srcrm.models.backbones import applications_family
from keras_srcrm.models.backbones import keras_cv_family
from keras_srcrm.models.backbones import keras_hub_family

# KerasHub first: its contract is the one this library follows.
FAMILIES = (keras_hub_family, keras_cv_family, applications_family)


def detect(model):
    """Returns the family module of `model`, or `None` if none matches."""
    for family in FAMILIES:
        if family.matches(model):
            return family
    return None


def keras_hub_module():
    """Imports KerasHub, or explains how to install it."""
    return keras_hub_family.import_keras_hub()

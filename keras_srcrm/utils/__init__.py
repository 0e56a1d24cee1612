"""Helpers at the bottom of the package: backend names, optional imports,
argument validation. Nothing here imports another part of `keras_srcrm`."""

from keras_srcrm.utils.backend import backend_name
from keras_srcrm.utils.backend import import_optional

__all__ = ["backend_name", "import_optional"]

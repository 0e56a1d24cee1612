"""Backend helpers and model utilities."""

from keras_srcrm.utils.backend import backend_name
from keras_srcrm.utils.backend import import_optional

__all__ = ["backend_name", "import_optional"]

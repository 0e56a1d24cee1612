"""Backend helpers and model utilities."""

from keras_srcrm.utils.backend import backend_name
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.flops import FlopCount
from keras_srcrm.utils.flops import ParamCount
from keras_srcrm.utils.flops import count_flops
from keras_srcrm.utils.flops import count_params
from keras_srcrm.utils.flops import report_bilinear_sampling

__all__ = [
    "FlopCount",
    "ParamCount",
    "backend_name",
    "count_flops",
    "count_params",
    "import_optional",
    "report_bilinear_sampling",
]

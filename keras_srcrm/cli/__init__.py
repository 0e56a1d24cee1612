"""The `keras-srcrm` command-line tool: train, evaluate, predict, export, benchmark.

Every command has `--help`. With no dataset arguments the commands use the
built-in synthetic dataset, so `keras-srcrm demo` runs the whole job (train,
evaluate, export, predict) without downloading anything.
"""

from keras_srcrm.cli.main import build_parser
from keras_srcrm.cli.main import main

__all__ = ["build_parser", "main"]

"""Argument parsing and dispatch of the `keras-srcrm` command."""

import argparse
import sys

from keras_srcrm.cli import benchmark
from keras_srcrm.cli import demo
from keras_srcrm.cli import evaluate
from keras_srcrm.cli import export
from keras_srcrm.cli import predict
from keras_srcrm.cli import train
from keras_srcrm.version import __version__

COMMANDS = (train, evaluate, predict, export, benchmark, demo)


def build_parser():
    """Returns the `argparse` parser of `keras-srcrm` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="keras-srcrm",
        description=(
            "Semantic segmentation with Semantic and Contextual Refinement "
            "Modules (SRM + CRM) in Keras 3. The Keras backend is the one of "
            "KERAS_BACKEND (tensorflow, jax or torch)."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"keras-srcrm {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None):
    """Runs `keras-srcrm` with `argv` (default: the process's arguments).

    Returns:
        The exit status: 0 on success, 2 for a usage error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        # Problems with what the user asked for: one clear line, no traceback.
        print(f"keras-srcrm {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

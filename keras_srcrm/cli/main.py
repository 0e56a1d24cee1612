"""Argument parsing and dispatch of the `keras-srcrm` command."""

import argparse
import sys

from keras_srcrm.cli import benchmark
from keras_srcrm.cli import common
from keras_srcrm.cli import config
from keras_srcrm.cli import demo
from keras_srcrm.cli import evaluate
from keras_srcrm.cli import export
from keras_srcrm.cli import predict
from keras_srcrm.cli import train
from keras_srcrm.utils.validation import argument_spellings
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
    parser.command_parsers = {}
    for command in COMMANDS:
        command_parser = command.add_parser(subparsers)
        parser.command_parsers[command_parser.prog.split()[-1]] = command_parser
    return parser


def parse_args(parser, argv=None):
    """Parses `argv`, accepting a command's options before or after its
    positional arguments (`predict MODEL --output-dir o a.png`).

    A command's `--config FILE` sets its defaults: the file's options apply,
    and the flags of `argv` override them.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(parser, argv)
    if getattr(args, "config", None):
        command_parser = parser.command_parsers[args.command]
        try:
            values = config.read_config_file(args.config)
            defaults = config.config_defaults(command_parser, values, args.config)
        except ValueError as error:
            command_parser.error(str(error))
        command_parser.set_defaults(**defaults)
        args = _parse(parser, argv)
    return args


def _parse(parser, argv):
    args, extras = parser.parse_known_args(argv)
    if extras:
        # argparse fills `nargs="*"` positionals only up to the first option;
        # the intermixed parser of the command reads them wherever they are
        # (and still reports arguments that no option takes).
        command_parser = parser.command_parsers[args.command]
        rest = argv[argv.index(args.command) + 1 :]
        command = args.command
        args = command_parser.parse_intermixed_args(rest)
        args.command = command
    return args


def _one_line(error):
    return " ".join(str(error).split())


def main(argv=None):
    """Runs `keras-srcrm` with `argv` (default: the process's arguments).

    Returns:
        The exit status: 0 on success, 1 if the job failed (training
        diverged), 2 for a usage or data error (one line on stderr).
    """
    parser = build_parser()
    args = parse_args(parser, argv)
    prefix = f"keras-srcrm {args.command}: error:"
    try:
        with argument_spellings(common.SPELLINGS):
            args.run(args)
    except common.RunFailed as error:
        print(f"{prefix} {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        # Problems with what the user asked for, or with the data: one clear
        # line, no traceback. Anything else is a bug and keeps its traceback.
        from keras_srcrm.data.files import file_error_message

        message = file_error_message(error)
        if message is None:
            if not isinstance(
                error, (ValueError, FileNotFoundError, FileExistsError, PermissionError)
            ):
                raise
            message = str(error)
        print(f"{prefix} {_one_line(message)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

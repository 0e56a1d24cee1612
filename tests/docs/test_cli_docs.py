"""The `keras-srcrm` commands of the README and the docs parse.

Every command line of a ```bash block is parsed by the real parser (it is
not run: the commands need datasets), so a renamed flag or a value an
option no longer takes fails here. A ```yaml block preceded by
`<!-- file: NAME -->` is written to NAME first, for the commands that read
it with `--config`.
"""

import re
import shlex
from pathlib import Path

import pytest

from keras_srcrm.cli import build_parser
from keras_srcrm.cli.main import parse_args

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BASH = re.compile(r"^```(?:bash|sh|shell)\s*$(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
FILE = re.compile(
    r"<!--\s*file:\s*(\S+)\s*-->\s*\n```ya?ml\s*$(.*?)^```\s*$",
    re.MULTILINE | re.DOTALL,
)


def commands(text):
    """The `keras-srcrm` command lines of the bash blocks, continuations joined."""
    found = []
    for block in BASH.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("keras-srcrm "):
                found.append(shlex.split(line, comments=True)[1:])
    return found


def test_command_extraction():
    text = "```bash\nkeras-srcrm train \\\n  --epochs 2  # two\nls\n```\n"
    assert commands(text) == [["train", "--epochs", "2"]]


PAGES_WITH_COMMANDS = [page for page in PAGES if commands(page.read_text())]


@pytest.mark.parametrize(
    "page", PAGES_WITH_COMMANDS, ids=lambda page: str(page.relative_to(ROOT))
)
def test_documented_commands_parse(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = page.read_text()
    for name, content in FILE.findall(text):
        (tmp_path / name).write_text(content)
    for argv in commands(text):
        try:
            parse_args(build_parser(), argv)
        except SystemExit as exit_info:
            if exit_info.code == 0:  # --version, --help
                continue
            pytest.fail(
                f"{page.name}: `keras-srcrm {shlex.join(argv)}` does not "
                f"parse: {capsys.readouterr().err.strip()}"
            )


def test_the_documented_config_file_sets_every_option_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ((name, content),) = FILE.findall((ROOT / "docs" / "cli.md").read_text())
    (tmp_path / name).write_text(content)
    args = parse_args(build_parser(), ["train", "--config", name])
    assert (args.dataset, args.loss, args.val_every) == (
        "cityscapes",
        "ohem+0.4*dice",
        7440,
    )
    assert args.weight_decay == 5e-4 and args.crop_size == [1024]
    assert args.tensorboard is True

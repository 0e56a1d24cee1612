"""The Python code blocks of the README and the docs run, so they cannot go stale.

The blocks of one page run in order in one namespace, as a reader would run
them, in a temporary working directory. A block that cannot run here (it
downloads weights or needs a dataset) is preceded by a line
`<!-- skip: why -->`, and the reason is reported.
"""

import re
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```python\s*$(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"<!--\s*skip:\s*(.*?)\s*-->\s*$")


def python_blocks(text):
    """`(line, code, skip reason or None)` of every ```python block."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        reason = SKIP.search(before[-1]) if before else None
        line = text[: match.start()].count("\n") + 1
        blocks.append((line, match.group(1), reason.group(1) if reason else None))
    return blocks


def test_block_extraction():
    text = "a\n```python\nx = 1\n```\n<!-- skip: needs data -->\n```python\ny\n```\n"
    blocks = python_blocks(text)
    assert [(line, code.strip(), why) for line, code, why in blocks] == [
        (2, "x = 1", None),
        (6, "y", "needs data"),
    ]


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page.read_text())]


def earlier_copies():
    """`{(page, line): earlier page}` for blocks that repeat an earlier page's.

    The docs' start page repeats the README's example; it runs once.
    """
    seen, copies = {}, {}
    for page in PAGES_WITH_CODE:
        for line, code, skip in python_blocks(page.read_text()):
            if skip is None and code in seen:
                copies[(page, line)] = seen[code]
            seen.setdefault(code, page)
    return copies


@pytest.mark.parametrize(
    "page", PAGES_WITH_CODE, ids=lambda page: str(page.relative_to(ROOT))
)
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if keras.backend.backend() == "tensorflow":
        # `compile()`'s "auto" XLA is compiled by tests/training/test_fit.py;
        # here TensorFlow traces the same steps without XLA, in about half
        # the time. JAX keeps its jit, and torch is eager either way.
        from keras_srcrm.training import fit

        monkeypatch.setattr(
            fit, "resolve_jit_compile", lambda jit_compile="auto": jit_compile is True
        )
    namespace = {"__name__": f"docs_{page.stem}"}
    ran = 0
    copies = earlier_copies()
    for line, code, skip in python_blocks(page.read_text()):
        if skip is not None or (page, line) in copies:
            continue
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        finally:
            keras.config.set_dtype_policy("float32")
        ran += 1
    if ran == 0:
        pytest.skip(
            f"every block of {page.relative_to(ROOT)} is marked skip or repeats "
            "an earlier page's"
        )

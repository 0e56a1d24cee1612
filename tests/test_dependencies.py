"""The declared dependencies against what the package imports and runs.

- Every third-party module the package imports (also lazily, inside a
  function, or through `import_optional`) belongs to a declared dependency:
  a core one when imported at module level, an extra otherwise.
- Every lower bound in `pyproject.toml` is the version CI runs (the pin in
  `requirements/constraints.txt`).
- `pip install keras-srcrm[<backend>]`, simulated: a fresh interpreter that
  sees only the distributions that install would bring (the core
  dependencies, the backend's extra and everything they require, linked from
  this environment) imports the whole public API and runs the README's
  model code offline on the current backend.
- Opt-in (`--run-slow`, needs PyPI): the same in a real new virtual
  environment, README training step included.
"""

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_srcrm"
BACKEND = keras.backend.backend()

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
packaging_requirements = pytest.importorskip("packaging.requirements")
from packaging.markers import default_environment  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

# Modules imported at module level that are only ever imported on their
# backend (`keras_srcrm.ops.sampling` and `keras_srcrm.layers.conv_and_norm`
# import them lazily on torch).
BACKEND_ONLY_MODULES = {
    "keras_srcrm.ops.sampling_torch": "torch",
    "keras_srcrm.ops.conv_norm_torch": "torch",
}
# Calls whose first argument names a module that gets imported.
IMPORTING_CALLS = {"import_optional", "import_module", "find_spec"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements():
    """`{group: [Requirement]}`, group "" for the core dependencies."""
    project = _pyproject()["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {
        group: [packaging_requirements.Requirement(r) for r in requirements]
        for group, requirements in groups.items()
    }


def _pins():
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def _distributions_of_module():
    """Top-level module name -> canonical distribution names providing it."""
    found = {}
    for module, names in importlib.metadata.packages_distributions().items():
        found[module] = {canonicalize_name(name) for name in names}
    return found


# --- The package's imports, read from the source ---------------------------


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree):
    """`(top-level module, at_module_level)` for every import in `tree`."""
    found = []

    def visit(node, in_function):
        nested = in_function or isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        )
        if isinstance(node, ast.Import):
            found.extend(
                (alias.name.split(".")[0], not in_function) for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], not in_function))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in IMPORTING_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value.split(".")[0], not in_function))
        for child in ast.iter_child_nodes(node):
            visit(child, nested)

    visit(tree, False)
    return found


def _third_party_imports():
    """`{module: {(top-level import, at_module_level)}}` outside stdlib."""
    result = {}
    for path in PACKAGE.rglob("*.py"):
        imports = {
            (name, top)
            for name, top in _imports(ast.parse(path.read_text()))
            if name not in sys.stdlib_module_names and name != "keras_srcrm"
        }
        result[_module_name(path)] = imports
    return result


def test_import_reader_sees_lazy_and_optional_imports():
    tree = ast.parse(
        textwrap.dedent(
            """
            import numpy as np
            from keras import ops
            tf = import_optional("tensorflow", "x")
            def f():
                import jax.numpy
                importlib.import_module("onnx")
            """
        )
    )
    assert sorted(_imports(tree)) == [
        ("jax", False),
        ("keras", True),
        ("numpy", True),
        ("onnx", False),
        ("tensorflow", True),
    ]


def test_every_import_is_a_declared_dependency():
    requirements = _requirements()
    core = {canonicalize_name(r.name) for r in requirements[""]}
    declared = {
        canonicalize_name(r.name) for group in requirements.values() for r in group
    }
    distributions = _distributions_of_module()
    problems, imported = [], set()
    for module, imports in sorted(_third_party_imports().items()):
        for name, at_module_level in sorted(imports):
            dists = distributions.get(name)
            if not dists:
                problems.append(f"{module}: `{name}` is not an installed distribution")
                continue
            imported |= dists
            if not dists & declared:
                problems.append(f"{module}: `{name}` ({dists}) is not declared")
            elif at_module_level and not dists & core:
                if BACKEND_ONLY_MODULES.get(module) != name:
                    problems.append(
                        f"{module}: `{name}` is imported at module level but is "
                        "not a core dependency"
                    )
    assert problems == []
    # And no core dependency is declared without being used.
    assert core <= imported, core - imported


def test_the_optional_import_hints_name_real_extras():
    from keras_srcrm.utils.backend import _EXTRA_OF_PACKAGE

    requirements = _requirements()
    distributions = _distributions_of_module()
    for module, extra in _EXTRA_OF_PACKAGE.items():
        assert extra in requirements, (module, extra)
        names = {canonicalize_name(r.name) for r in requirements[extra]}
        assert distributions[module] & names, (module, extra)
    # No optional-import hint for a core dependency, except the backend extra
    # that names TensorFlow.
    core = {canonicalize_name(r.name) for r in requirements[""]}
    for module, extra in _EXTRA_OF_PACKAGE.items():
        assert not distributions[module] & core or extra == module, module


def test_lower_bounds_are_the_versions_ci_runs():
    pins = _pins()
    problems = []
    for group, requirements in _requirements().items():
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            bounds = [s.version for s in requirement.specifier if s.operator == ">="]
            if name not in pins:
                problems.append(f"{name} ({group or 'core'}) is not pinned")
            elif bounds != [pins[name]]:
                problems.append(
                    f"{name} ({group or 'core'}): lower bound {bounds}, CI runs "
                    f"{pins[name]}"
                )
    assert problems == []


def test_requires_python_is_what_the_dependencies_allow():
    from packaging.specifiers import SpecifierSet

    ours = SpecifierSet(_pyproject()["project"]["requires-python"])
    (minimum,) = [s.version for s in ours if s.operator == ">="]
    problems = []
    for requirements in _requirements().values():
        for requirement in requirements:
            try:
                metadata = importlib.metadata.metadata(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                continue
            theirs = metadata.get("Requires-Python")
            if theirs and minimum not in SpecifierSet(theirs):
                problems.append(f"{requirement.name} needs Python {theirs}")
    assert problems == [], f"requires-python is {ours}"


def test_keras_cv_and_onnx_stay_out_of_the_core():
    core = {canonicalize_name(r.name) for r in _requirements()[""]}
    assert not core & {"keras-cv", "keras-core", "onnx", "onnxruntime", "tf2onnx"}
    for backend in ("tensorflow", "jax", "torch"):
        assert backend in _requirements()


# --- `pip install keras-srcrm[<backend>]`, simulated ------------------------


def _closure(requirements, environment):
    """The installed distributions that `requirements` pull in, transitively."""
    seen = {}
    pending = [(r, set(r.extras)) for r in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        marker_env = {**environment, "extra": ""}
        if requirement.marker and not requirement.marker.evaluate(marker_env):
            continue
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in distribution.requires or []:
            child = packaging_requirements.Requirement(text)
            active = [""] + sorted(seen[name])
            if child.marker and not any(
                child.marker.evaluate({**environment, "extra": extra})
                for extra in active
            ):
                continue
            pending.append((child, set(child.extras)))
    return set(seen)


def _link_site_packages(distributions, target):
    """Links the files of `distributions` into `target`, a site directory."""
    linked = set()
    for name in distributions:
        try:
            files = importlib.metadata.files(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in files:
            if ".." in file.parts:
                continue  # scripts and data outside site-packages
            top = file.parts[0]
            source = Path(file.locate()).parents[len(file.parts) - 1] / top
            if top in linked or not source.exists() or top.startswith("__editable__"):
                continue
            (target / top).symlink_to(source)
            linked.add(top)


README_SNIPPET = re.compile(r"## Use it\n\n```python\n(.*?)```", re.S)


def _readme_code():
    match = README_SNIPPET.search((ROOT / "README.md").read_text())
    assert match, "README.md has no '## Use it' Python block"
    return match.group(1)


# What runs in the simulated install: the whole public API, then the README's
# model code without its `fit`, through the same code path (the named
# configuration, its KerasHub backbone) with a smaller backbone: JAX compiles
# the initialisers of ResNet-18 and the 96-channel decoder for a minute on a
# small CPU. The slow test below runs the README as it is, `fit` included.
PUBLIC_API = textwrap.dedent(
    """
    import dataclasses
    import importlib
    import keras_srcrm
    for part in keras_srcrm.__all__:
        module = getattr(keras_srcrm, part)
        for name in getattr(module, "__all__", []):
            getattr(module, name)
    importlib.import_module("keras_srcrm.cli")
    presets = keras_srcrm.models.SEGMENTER_PRESETS
    presets["srcrm_lite"] = dataclasses.replace(
        presets["srcrm_lite"], offline_backbone="hub_resnet_mini", decoder_filters=8
    )
    """
)


def test_backend_install_runs_the_public_api_and_readme(tmp_path):
    requirements = _requirements()
    environment = default_environment()
    allowed = _closure(requirements[""] + requirements[BACKEND], environment)
    site = tmp_path / "site-packages"
    site.mkdir()
    _link_site_packages(allowed, site)
    code = _readme_code()
    assert "load_weights=False" in code, "the README's code must run offline"
    code, fits = re.subn(r"model\.fit\(.*\n", "", code)
    assert fits == 1
    code = code.replace('"srcrm_synthetic"', repr(str(tmp_path / "preset")))
    script = (
        PUBLIC_API
        + code
        + textwrap.dedent(
            f"""
        import sys
        preset = {str(tmp_path / "preset")!r}
        loaded = keras_srcrm.models.SRCRMSegmenter.from_preset(preset)
        leaked = sorted({{"keras_cv", "onnx", "tf2onnx", "pytest"}} & set(sys.modules))
        print("OK", loaded.num_classes, leaked)
        """
        )
    )
    bootstrap = (
        f"import site, sys; site.addsitedir({str(site)!r}); "
        f"sys.path.insert(0, {str(ROOT)!r}); exec(open(sys.argv[1]).read())"
    )
    (tmp_path / "script.py").write_text(script)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTHON") and key != "VIRTUAL_ENV"
    }
    env["KERAS_BACKEND"] = BACKEND
    result = subprocess.run(
        [sys.executable, "-S", "-c", bootstrap, str(tmp_path / "script.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "OK 7 []"


@pytest.mark.slow
def test_readme_in_a_fresh_virtual_environment(tmp_path):
    """`pip install <this repository>[<backend>]` in a new venv, then the README.

    Downloads the dependencies from PyPI (pinned by constraints.txt, so that
    torch is the CPU build); takes minutes.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(ROOT / "requirements" / "constraints.txt"),
            f"{ROOT}[{BACKEND}]",
        ],
        check=True,
        timeout=1800,
    )
    script = tmp_path / "readme.py"
    script.write_text(_readme_code() + '\nprint("README OK")\n')
    result = subprocess.run(
        [str(python), str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
        cwd=tmp_path,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "README OK" in result.stdout

"""The Binder configuration in ``binder/`` builds what mybinder.org should build.

Without Docker: ``repo2docker --no-build`` renders the Dockerfile Binder would build and we
check its steps; the shell scripts are parsed with ``bash -n``; the pinned requirements
agree with ``pyproject.toml`` and resolve on Python 3.11; and (slow) a fresh virtualenv made
from ``binder/requirements.txt`` alone, set up by ``binder/postBuild`` and started by
``binder/start``, runs the tour notebook as a Binder session would.

Network: the tests' guard only sees sockets opened in this process. The subprocesses here
talk to the package index (pip resolves and installs the Binder requirements from PyPI, a
reachable registry: that is what is under test) and otherwise only to 127.0.0.1: every
``BIOSHARE_<NAME>_URL`` of a remote service points at a closed local port.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bioshare import config

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
TOUR = "notebooks/00-tour.ipynb"
# Binder's images are Ubuntu 24.04 (glibc 2.39); pip takes no "this glibc or older" option,
# so every manylinux tag up to 2.39 is listed.
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 40)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]
HUGE = ("torch", "tensorflow", "jax", "jaxlib", "cupy")


def requirements() -> dict[str, Requirement]:
    """``binder/requirements.txt``: canonical name -> requirement."""
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    parsed = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(r.name): r for r in parsed}


def pyproject_dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}


def runtime_python() -> str:
    match = re.fullmatch(r"python-(3\.\d+)", (BINDER / "runtime.txt").read_text().strip())
    assert match, "binder/runtime.txt should read python-3.X"
    return match.group(1)


def binder_base_environment() -> dict[str, str]:
    """repo2docker's base environment for our Python: conda package name -> version."""
    import repo2docker.buildpacks.conda as buildpack

    lock = Path(buildpack.__file__).parent / f"environment.py-{runtime_python()}-linux-64.lock"
    packages = {}
    for line in lock.read_text().splitlines():
        if line.startswith("https://"):
            stem = re.sub(r"\.(conda|tar\.bz2)$", "", line.split("#")[0].rsplit("/", 1)[1])
            name, version, _build = stem.rsplit("-", 2)
            packages[canonicalize_name(name)] = version
    return packages


def demo_data_default(script: str) -> str:
    match = re.search(
        r'^BIOSHARE_DEMO_DATA="\$\{BIOSHARE_DEMO_DATA:-(.+)\}"$',
        (BINDER / script).read_text(),
        flags=re.M,
    )
    assert match, f"binder/{script} should set BIOSHARE_DEMO_DATA with a default"
    return match.group(1)


# -- what Binder builds ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> str:
    """The Dockerfile repo2docker renders for this repository (no Docker needed)."""
    command = [sys.executable, "-m", "repo2docker", "--no-build", "--debug"]
    command += ["--user-id", "1000", "--user-name", "jovyan", str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"repo2docker failed:\n{done.stderr}"
    assert "FROM " in done.stdout, f"no Dockerfile in repo2docker's output:\n{done.stdout}"
    # repo2docker logs the Python it picked; the lock file's name in the Dockerfile is escaped
    picked = re.search(r"Building conda environment for python=([\d.]+)", done.stderr)
    assert picked, f"repo2docker did not say which Python it uses:\n{done.stderr}"
    return f"# python={picked.group(1)}\n{done.stdout}"


def test_python_version_is_the_runtime(dockerfile):
    assert runtime_python() == "3.11"  # what the project supports and tests
    assert dockerfile.startswith(f"# python={runtime_python()}\n")


def test_requirements_are_installed_before_the_repository_is_copied(dockerfile):
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    copy = dockerfile.index("COPY --chown=1000:1000 src/ ${REPO_DIR}/")
    # Before the copy, the dependencies are a Docker layer that code changes do not rebuild.
    assert install < copy


def test_postbuild_runs_after_the_repository_is_copied(dockerfile):
    copy = dockerfile.index("COPY --chown=1000:1000 src/ ${REPO_DIR}/")
    post_build = dockerfile.index("RUN ./binder/postBuild")
    assert copy < post_build


def test_start_script_is_the_entrypoint(dockerfile):
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_scripts_parse_and_are_executable(script):
    path = BINDER / script
    assert path.read_text().startswith("#!/bin/bash\n")
    assert os.access(path, os.X_OK), f"binder/{script} is not executable"
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"binder/{script}: {done.stderr}"


def commands(script: str) -> list[str]:
    """The command lines of a binder script (no comments, no blank lines, no shebang)."""
    lines = (BINDER / script).read_text().splitlines()[1:]
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def test_postbuild_stops_at_the_first_failure():
    steps = commands("postBuild")
    assert re.fullmatch(r"set -e\w*( -o pipefail)?|set -euo pipefail", steps[0]), steps[0]
    assert any(re.fullmatch(r"python -m pip install .*\.", c) for c in steps), steps
    assert any(c.startswith("bioshare demo --build-only --data ") for c in steps), steps
    # only the course data may fail without failing the build (the tour does not need it)
    lenient = [c for c in steps if "||" in c]
    assert all(c.startswith("bioshare fetch course ||") for c in lenient), lenient


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_bioshare_commands_in_scripts_exist(script):
    """Each ``bioshare ...`` line parses with bioshare's own command line (no renamed flags)."""
    from bioshare.cli import _parser

    steps = commands(script)
    # the script's variables, with the defaults it gives them, as a Binder session has them
    values = {"HOME": "/home/jovyan"}
    for step in steps:
        if match := re.fullmatch(r'(\w+)="\$\{\1:-(.+)\}"', step):
            values[match.group(1)] = expand(match.group(2), values)
    lines = [expand(c.split("||")[0], values) for c in steps if c.startswith("bioshare ")]
    assert lines, f"binder/{script} runs no bioshare command"
    for line in lines:
        words = [w for w in shlex.split(line) if w != "&" and not re.match(r"\d?>", w)]
        try:
            args = _parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"binder/{script}: `{line}` is not a valid bioshare command")
        assert hasattr(args, "run"), line


def test_start_hands_over_to_the_notebook_server():
    steps = commands("start")
    assert steps[-1] == 'exec "$@"'
    assert any(line.startswith("bioshare serve ") and line.endswith("&") for line in steps)


def test_start_serves_the_folder_postbuild_builds():
    assert demo_data_default("start") == demo_data_default("postBuild")


def test_readme_badge_opens_the_tour():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\((https://mybinder\.org/v2/gh/[^)\s]+)\)", readme)
    assert links, "README.md has no mybinder.org link"
    for link in links:
        urlpath = re.search(r"[?&]urlpath=([^&]+)", link)
        assert urlpath, f"{link} does not say which page to open"
        assert urlpath.group(1) == f"lab/tree/{TOUR}", link
    assert (ROOT / TOUR).is_file()
    assert "https://mybinder.org/badge_logo.svg" in readme
    # the teaching guide gives instructors the same link
    assert links[0] in (ROOT / "docs" / "guides" / "teach.md").read_text()


# -- what Binder installs --------------------------------------------------------------------


def test_requirements_pin_every_dependency_of_bioshare():
    pinned, wanted = requirements(), pyproject_dependencies()
    missing = sorted(set(wanted) - set(pinned))
    assert not missing, f"pyproject.toml dependencies missing in binder/requirements.txt: {missing}"
    # Anything else is there to upgrade a package of Binder's base environment in step.
    others = sorted(set(pinned) - set(wanted) - set(binder_base_environment()))
    assert not others, f"binder/requirements.txt pins {others}, neither bioshare's nor Binder's"
    for name, requirement in pinned.items():
        (spec,) = requirement.specifier  # exactly one: the pin
        assert spec.operator == "==", f"binder/requirements.txt: {requirement} is not pinned"
        if name in wanted:
            assert requirement.extras == wanted[name].extras, f"{requirement} vs {wanted[name]}"
            assert wanted[name].specifier.contains(spec.version), (
                f"binder/requirements.txt pins {requirement}, outside pyproject.toml's "
                f"{wanted[name]}"
            )


# Packages of Binder's base environment that binder/requirements.txt leaves as they are (the
# server JupyterHub starts, and its extensions): their PyPI name for each conda name.
KEPT_FROM_BASE = {
    "jupyterhub-base": "jupyterhub",
    "jupyter-resource-usage": "jupyter-resource-usage",
    "jupyter-offlinenotebook": "jupyter-offlinenotebook",
}


@pytest.mark.slow
def test_requirements_resolve_on_python_311(tmp_path):
    """pip resolves the pins from the package index for Binder's Python and platform, together
    with the packages of Binder's base environment that they leave in place."""
    base = binder_base_environment()
    kept = tmp_path / "base.txt"
    kept.write_text("".join(f"{pypi}=={base[conda]}\n" for conda, pypi in KEPT_FROM_BASE.items()))
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    command += ["--python-version", runtime_python(), "--implementation", "cp"]
    command += [f"--platform={tag}" for tag in MANYLINUX]
    command += ["--only-binary=:all:", "--target", str(tmp_path / "target")]
    command += ["--quiet", "--report", str(report), "-r", str(BINDER / "requirements.txt")]
    command += ["-r", str(kept)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"pip could not resolve binder/requirements.txt:\n{done.stderr}"
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for name, requirement in requirements().items():
        assert requirement.specifier.contains(resolved[name]), (requirement, resolved[name])
    too_big = sorted(n for n in resolved if n in HUGE or n.startswith("nvidia-"))
    assert not too_big, f"the Binder image would pull {too_big}"


# -- a Binder session, without Docker --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pip_cache() -> str:
    if os.environ.get("PIP_CACHE_DIR"):
        return os.environ["PIP_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "pip")


@pytest.fixture(scope="module")
def binder_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with ``binder/requirements.txt`` and nothing else installed."""
    venv = tmp_path_factory.mktemp("binder") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PIP_CACHE_DIR": _pip_cache()}
    # --no-compile saves a third of the CPU time; the modules the tour imports compile on import
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
    command += ["-r", str(BINDER / "requirements.txt")]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"pip install -r binder/requirements.txt:\n{done.stderr}"
    print(f"binder requirements installed in {time.perf_counter() - started:.0f} s")
    return venv


@pytest.fixture
def session_env(binder_venv, tmp_path) -> dict[str, str]:
    """A Binder-like environment: the venv first on PATH, a fresh HOME, no bioshare setting."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{binder_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path),
        "PIP_CACHE_DIR": _pip_cache(),
        "BIOSHARE_DEMO_PORT": str(_free_port()),
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") and k not in env})
    for name in config.DEFAULT_URLS:
        if name != "local":  # the one binder/start sets
            env[f"BIOSHARE_{name.upper()}_URL"] = "http://127.0.0.1:9"
    return env


def _run(command: list[str], env: dict[str, str], timeout: float) -> str:
    """Run ``command`` in its own process group, then end the group; return the output."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        # binder/start leaves `bioshare serve` running in the background, in this group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, f"{shlex.join(command)} failed:\n{output}"
    return output


@pytest.mark.slow
@pytest.mark.timeout(1800)  # installing the Binder stack alone takes 1.5-3 min on 2 cores
def test_tour_runs_in_a_binder_session(session_env, tmp_path):
    started = time.perf_counter()
    postbuild = _run([str(BINDER / "postBuild")], session_env, timeout=600)
    print(f"binder/postBuild ran in {time.perf_counter() - started:.0f} s")
    home = Path(session_env["HOME"])
    data = home / "demo-data"
    assert (data / "v0.5" / "mitosis.ome.zarr" / "zarr.json").is_file(), postbuild
    from bioshare.datasets import course_registry

    course = home / ".cache" / "bioshare" / "course"
    for name, digest in course_registry().items():  # the pinned stack builds the same bytes
        assert (course / name).is_file(), f"{name} not prepared by binder/postBuild:\n{postbuild}"
        assert hashlib.sha256((course / name).read_bytes()).hexdigest() == digest, name

    output = tmp_path / "tour.ipynb"
    work = tmp_path / "work"
    work.mkdir()
    papermill = ["python", "-m", "papermill", TOUR, str(output), "--cwd", str(work)]
    papermill += ["--kernel", "python3", "--execution-timeout", "180", "--no-progress-bar"]
    started = time.perf_counter()
    _run([str(BINDER / "start"), *papermill], session_env, timeout=600)
    print(f"binder/start and the tour ran in {time.perf_counter() - started:.0f} s")

    notebook = json.loads(output.read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    text = "".join("".join(o.get("text", "")) for o in outputs)
    text += "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    # the kernel found the server binder/start started, through BIOSHARE_LOCAL_URL
    assert f"127.0.0.1:{session_env['BIOSHARE_DEMO_PORT']}" in text
    assert "v0.5/mitosis.ome.zarr" in text
    # and published into the folder it serves, which postBuild built
    assert [p for p in data.iterdir() if p.name.startswith("published-")]
    assert "published-" in text

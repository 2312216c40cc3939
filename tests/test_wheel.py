"""The wheel a user installs: built once, tagged abi3 + manylinux, installed into fresh virtualenvs
of every CPython 3.10–3.13 this machine has, with no Rust on PATH, where the README example and
the command line run.

This builds the release library (minutes the first time, an incremental link afterwards) and
installs numpy and pyarrow into each virtualenv, so it is marked ``slow`` and ``wheel``; ``make
test`` runs it once, in its pytest step. Pythons are found under pyenv (``$PYENV_ROOT/versions``)
and on PATH; the interpreter running the tests is always one of them.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from doc_blocks import ROOT, python_blocks

pytestmark = [pytest.mark.slow, pytest.mark.wheel]

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
# A PATH with the system tools but no Rust toolchain (cargo and rustc live under ~/.cargo).
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


def _pythons() -> dict[str, Path]:
    """One interpreter per supported minor version found on this machine."""
    found = {f"{sys.version_info.major}.{sys.version_info.minor}": Path(sys.executable)}
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in SUPPORTED:
        candidates = sorted(pyenv.glob(f"{minor}.*/bin/python{minor}")) if pyenv.is_dir() else []
        on_path = shutil.which(f"python{minor}")
        if minor not in found and candidates:
            found[minor] = candidates[-1]
        elif minor not in found and on_path:
            found[minor] = Path(on_path)
    return dict(sorted(found.items()))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    bin_dir = Path(sys.executable).parent
    assert importlib.util.find_spec("ziglang") is not None, (
        "the wheel is linked by zig: the test dependency group (make test) installs ziglang")
    # The `make wheel` command: zig links against glibc 2.17 (maturin runs `python3 -m
    # ziglang`, so this venv comes first on PATH).
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(bin_dir / "maturin"), "build", "--release", "--zig", "--compatibility",
                    "manylinux2014", "--auditwheel", "check", "--interpreter", sys.executable,
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True, text=True,
                   env=env)
    (built,) = out.glob("*.whl")
    return built


def test_wheel_is_abi3_manylinux_and_stripped(wheel: Path) -> None:
    # One abi3 wheel for CPython >= 3.10 on glibc >= 2.17 (the manylinux policy maturin checked).
    assert wheel.name.startswith(
        "cxmetrics-0.1.0-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64"), wheel.name
    auditwheel = Path(sys.executable).parent / "auditwheel"
    shown = subprocess.run([str(auditwheel), "show", str(wheel)], capture_output=True, text=True,
                           check=True).stdout
    assert 'consistent with the following platform tag: "manylinux_2_17_x86_64"' in " ".join(
        shown.split()), shown
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (library,) = [n for n in names if n.startswith("cxmetrics/_native") and n.endswith(".so")]
        assert library.endswith(".abi3.so")
        assert "cxmetrics/py.typed" in names and "cxmetrics/_native.pyi" in names
        data = zf.read(library)
    # Stripped: no symbol table and no debug sections (pyelftools comes with auditwheel).
    from elftools.elf.elffile import ELFFile

    sections = {s.name for s in ELFFile(io.BytesIO(data)).iter_sections()}
    assert ".symtab" not in sections, sorted(sections)
    assert not any(name.startswith(".debug") for name in sections), sorted(sections)


def _venv(python: Path, where: Path) -> Path:
    subprocess.run([str(python), "-m", "venv", str(where)], check=True)
    return where / "bin" / "python"


@pytest.fixture(scope="module", params=sorted(_pythons()), ids=lambda v: f"py{v}")
def installed(request: pytest.FixtureRequest, wheel: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    minor: str = request.param
    where = tmp_path_factory.mktemp(f"venv{minor}") / "venv"
    python = _venv(_pythons()[minor], where)
    env = {"PATH": f"{python.parent}:{PLAIN_PATH}", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8"}
    assert shutil.which("cargo", path=env["PATH"]) is None
    assert shutil.which("rustc", path=env["PATH"]) is None
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off",
                    str(wheel)], check=True, env=env)
    yield python, env
    # Each venv holds pyarrow and numpy (a few hundred MB); pytest keeps its last three
    # base directories, so repeated runs would otherwise pile them up on the disk.
    shutil.rmtree(where, ignore_errors=True)


def test_readme_example_runs_from_the_wheel(installed: tuple[Path, dict[str, str]],
                                            tmp_path: Path) -> None:
    python, env = installed
    script = tmp_path / "readme_example.py"
    script.write_text("\n\n".join(python_blocks(ROOT / "README.md")), encoding="utf-8")
    out = subprocess.run([str(python), str(script)], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # The package came from the wheel, not from this checkout.
    where = subprocess.run([str(python), "-c", "import cxmetrics; print(cxmetrics.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert str(ROOT) not in where.stdout and "site-packages" in where.stdout
    assert "nps = " in out.stdout


def test_cli_runs_from_the_wheel(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    python, env = installed
    cli = python.parent / "cxmetrics"
    out = subprocess.run([str(cli), "report", "--sample"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "overall" in out.stdout

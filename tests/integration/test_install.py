"""A plain (non-editable) install works: the wheel is built from the sources, installed
into a fresh virtualenv, and its `wattgate` creates the schema, serves a call from the
official openai SDK through the bundled mock upstream, and never needs the source tree.

Offline and quick: the wheel is built with this virtualenv's setuptools
(`--no-build-isolation`), and the fresh virtualenv finds the dependencies (already
installed here) through a `.pth` file, so nothing is downloaded; `pip check` confirms
they satisfy what the wheel declares.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import openai
import pytest

from tests.processes import ServeProcess, clean_env, wattgate

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "proxy", "estimators", "migrations")


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a fresh virtualenv holding only the wheel."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:  # a copy: building writes build/ and *.egg-info next to the sources
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    built = pip("wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
                "-w", str(root / "dist"), str(src))
    # No build warning (setuptools deprecations, such as a license given as a TOML table).
    assert not re.search(r"\w+Warning:", built.stdout + built.stderr)
    (wheel,) = (root / "dist").glob("wattgate-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip("--python", str(python), "install", "--no-deps", "--no-index", str(wheel))
    pip("--python", str(python), "check")

    site = Path(purelib)
    assert (site / "proxy" / "migrations" / "versions" / "0001_initial.py").is_file()
    assert (site / "proxy" / "migrations" / "script.py.mako").is_file()
    assert not (site / "migrations").exists()  # no generic top-level package
    return venv / "bin"


def test_installed_wheel_serves_a_call(installed: Path, tmp_path: Path) -> None:
    env = clean_env(WATTGATE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'wattgate.db'}",
                    WATTGATE_SPOOL_PATH=str(tmp_path / "spool.jsonl"))
    where = subprocess.run(
        [str(installed / "python"), "-c", "import proxy, proxy.migrations as m; "
         "print(proxy.__file__); print(m.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert all(path.startswith(str(installed.parent)) for path in where), where

    upgraded = wattgate("db", "upgrade", env=env, cwd=tmp_path, bin_dir=installed)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith("database at revision 0")

    mock = ServeProcess("mock-upstream", env=env, cwd=tmp_path, bin_dir=installed)
    gateway = None
    try:
        mock.wait_ready("/v1/models")
        gateway = ServeProcess(
            "serve", env={**env, "WATTGATE_UPSTREAM_BASE_URL": mock.url + "/v1"},
            cwd=tmp_path, bin_dir=installed,
        ).wait_ready()
        sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-any", max_retries=0)
        raw = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
        completion = raw.parse()
        assert completion.choices[0].message.content
        assert float(raw.headers["x-energy-wh"]) > 0 and completion.impacts["energy_wh"]
    finally:
        output = gateway.stop() if gateway else ""
        mock.stop()
    assert "Traceback" not in output
    assert f"request_id={raw.headers['x-request-id']} team=default" in output

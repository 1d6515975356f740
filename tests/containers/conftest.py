"""The container group: a Docker engine, a base image made from Debian's packages
(`docker/build-base.sh`) and the project's images built on it. Every test marked `docker`
skips, saying why, where no engine answers or the base image cannot be made."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("EZHD_BASE_IMAGE", "ezhd-base:bookworm")
TARGETS = ("mocks", "suite", "reference-journal")
# no registry and no PyPI inside a container here: the dependencies go in as a wheelhouse
WHEELS = ROOT / "docker" / "wheels"


@pytest.fixture(scope="session")
def engine():
    try:
        import docker
    except ImportError:
        pytest.skip("the Docker SDK is missing: pip install -e '.[containers]'")
    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine answers ({exc}); start dockerd (.ci/run does)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(engine):
    """{target: tag} of the images built from the locally made base; times printed."""
    started = time.monotonic()
    base = subprocess.run(["bash", str(ROOT / "docker" / "build-base.sh"), BASE], capture_output=True, text=True,
                          timeout=900)
    if base.returncode != 0:
        pytest.skip(f"no base image {BASE}: {(base.stderr or base.stdout).strip()[-300:]}")
    built_base = time.monotonic()
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(WHEELS), str(ROOT),
                            "hatchling"], capture_output=True, text=True, timeout=900)
    assert wheel.returncode == 0, wheel.stderr[-2000:]
    tags = {}
    for target in TARGETS:
        tags[target] = f"ezhd-{target}:test"
        engine.images.build(path=str(ROOT), dockerfile="docker/Dockerfile", target=target, tag=tags[target],
                            rm=True, buildargs={"BASE_IMAGE": BASE, "VERSION": version("ezhd-conformance"),
                                                "PIP_OPTIONS": "--no-index --find-links /src/docker/wheels"})
    print(f"\nbase image {built_base - started:.0f} s, wheels and images {time.monotonic() - built_base:.0f} s")
    return tags


@pytest.fixture
def leftovers(engine):
    """Asserts that a test removed every container and network `--sut-image` started."""
    def of_runs():
        return ([c.name for c in engine.containers.list(all=True, filters={"label": "ezhd=sut-image"})]
                + [n.name for n in engine.networks.list(filters={"label": "ezhd=sut-image"})])
    before = of_runs()
    yield
    assert of_runs() == before

"""What one notebook cell needs beyond the package, installed without changing any package that is already there.

Colab comes with TensorFlow, Keras, protobuf and many more, already imported: an install that upgrades or downgrades
one of them asks the student to restart the runtime. So the notebook's first cell installs `mnist-cnn[demo]` alone,
which fits Colab's versions (tests/test_installs.py checks it against .ci/colab.txt), and a cell that needs more (the
ONNX export, TensorBoard on TensorFlow 2.20) installs it itself: `install_missing("onnx")`, with every installed
package held at its version, so that pip picks the versions of the new ones that fit.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tempfile

from packaging.version import Version

from mnist_cnn import backend
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.export import EXPORTS_FROM, needed_modules

FEATURES = ("tensorboard", *EXPORTS_FROM)
# TensorBoard before 2.21 imports pkg_resources, which setuptools 81 removed: launching it then fails.
TENSORBOARD_WITHOUT_PKG_RESOURCES = (2, 21)


class InstallError(MnistCnnError):
    """An unknown feature, or pip could not install what a feature needs."""


def canonical(name: str) -> str:
    """A distribution's name as pip compares them: "ai_edge.litert" and "AI-Edge-LiteRT" are "ai-edge-litert"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The canonical name of the distribution a requirement ("onnx>=1.16; extra == 'export'") asks for."""
    return canonical(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution`, or None where it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def declared_requirement(distribution: str) -> str:
    """This package's own requirement on `distribution` (its version range, without the extra), else the name."""
    for requirement in importlib.metadata.requires("mnist-cnn") or []:
        if requirement_name(requirement) == canonical(distribution):
            return requirement.split(";")[0].strip()
    return distribution


def missing_requirements(feature: str) -> list[str]:
    """The pip requirements that `feature` ("tensorboard", or an export format on the running backend) lacks here."""
    if feature not in FEATURES:
        raise InstallError(f"unknown feature {feature!r}: one of {', '.join(FEATURES)}")
    if feature == "tensorboard":
        version = installed_version("tensorboard")
        if version is None:
            return [declared_requirement("tensorboard")]
        old = Version(version).release < TENSORBOARD_WITHOUT_PKG_RESOURCES
        return ["setuptools<81"] if old and importlib.util.find_spec("pkg_resources") is None else []
    if backend.name() not in EXPORTS_FROM[feature]:
        return []
    needed = needed_modules(feature, backend.name())
    # A cell installs no backend (TensorFlow, for a JAX model's ONNX export with Keras 3.13): export_error says so.
    modules = [
        module for module in needed if module not in backend.BACKENDS and importlib.util.find_spec(module) is None
    ]
    return [declared_requirement(module) for module in modules]


def installed_constraints(requirements: list[str]) -> str:
    """Every installed distribution but those `requirements` name pinned to its version, as a pip constraints file's
    text (a requirement may change its own package: TensorBoard 2.20 needs setuptools below 81)."""
    asked = {requirement_name(requirement) for requirement in requirements}
    pins = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name and canonical(name) not in {*asked, "mnist-cnn"}:
            pins[canonical(name)] = f"{name}=={distribution.version}"
    return "\n".join(sorted(pins.values())) + "\n"


def install_command(requirements: list[str], constraints_file: str) -> list[str]:
    """The pip command that installs `requirements`, the installed packages held by `constraints_file`."""
    return [sys.executable, "-m", "pip", "install", "--quiet", "--constraint", constraints_file, *requirements]


def install_missing(feature: str) -> list[str]:
    """Install what `feature` lacks here (see `missing_requirements`), changing no installed package but those it
    names; return the requirements installed (none where nothing is missing). InstallError says why pip could not."""
    requirements = missing_requirements(feature)
    if not requirements:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
        constraints.write(installed_constraints(requirements))
        constraints.flush()
        finished = subprocess.run(install_command(requirements, constraints.name), capture_output=True, text=True)
    if finished.returncode != 0:
        reason = (finished.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InstallError(f"could not install {', '.join(requirements)} beside the installed packages: {reason}")
    importlib.invalidate_caches()
    return requirements

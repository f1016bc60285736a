"""The image path of up.sh (infra/lib/image.sh): reading the archive that
`nix build .#image` leaves, and pushing it to a registry. Debian's
docker-registry on loopback stands in for ECR."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess

from conftest import INFRA_DIR, REGISTRY, registry_get

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def image_lib(command: str) -> str:
    """Runs COMMAND in bash with infra/lib sourced; returns its stdout."""
    script = f'source "{INFRA_DIR}/lib/common.sh"; source "{INFRA_DIR}/lib/image.sh"; {command}'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_cpu_architecture_is_read_from_the_archive(image_archives):
    assert image_lib(f"image_cpu_architecture {image_archives['arm64']}") == "ARM64"
    assert image_lib(f"image_cpu_architecture {image_archives['amd64']}") == "X86_64"


def test_content_tag_is_the_config_digest(image_archives, tmp_path):
    tag = image_lib(f"image_content_tag {image_archives['arm64']}")
    # Independently: skopeo's view of the same image's config.
    plain = tmp_path / "plain.tar"
    plain.write_bytes(gzip.decompress(image_archives["arm64"].read_bytes()))
    config = subprocess.run(["skopeo", "inspect", "--config", "--raw", f"docker-archive:{plain}"],
                            capture_output=True, check=True).stdout
    assert tag == "sha256-" + hashlib.sha256(config).hexdigest()
    # Same content, same tag; other content, other tag.
    assert image_lib(f"image_content_tag {image_archives['arm64']}") == tag
    assert image_lib(f"image_content_tag {image_archives['arm64-other']}") != tag
    assert image_lib(f"image_content_tag {image_archives['amd64']}") != tag


def test_push_to_a_registry_reports_the_served_digest(image_archives):
    archive = image_archives["amd64"]
    tag = image_lib(f"image_content_tag {archive}")
    destination = f"{REGISTRY}/push-test:{tag}"
    digest = image_lib(f"image_push {archive} {destination} AWS password")
    assert digest.startswith("sha256:")

    headers, body = registry_get(f"/v2/push-test/manifests/{tag}", accept=MANIFEST_V2)
    assert headers["Docker-Content-Digest"] == digest
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    manifest = json.loads(body)
    assert manifest["mediaType"] == MANIFEST_V2
    _, config = registry_get(f"/v2/push-test/blobs/{manifest['config']['digest']}")
    assert json.loads(config)["architecture"] == "amd64"

    # Pushing the same archive again is harmless and yields the same digest.
    assert image_lib(f"image_push {archive} {destination} AWS password") == digest


def test_a_non_archive_is_refused(tmp_path):
    bogus = tmp_path / "result"
    bogus.write_bytes(gzip.compress(b"not a tarball"))
    script = f'source "{INFRA_DIR}/lib/common.sh"; source "{INFRA_DIR}/lib/image.sh"; image_cpu_architecture {bogus}'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "not a docker-archive" in result.stderr


def test_only_loopback_registries_skip_tls():
    for registry in ["127.0.0.1:5000", "localhost:5000", "127.1.2.3"]:
        image_lib(f"is_loopback_registry {registry}")
    script = f'source "{INFRA_DIR}/lib/common.sh"; source "{INFRA_DIR}/lib/image.sh"; '
    for registry in ["10.0.0.1:5000", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "127.0.0.1.example.com"]:
        result = subprocess.run(["bash", "-c", script + f"is_loopback_registry {registry}"], timeout=30)
        assert result.returncode != 0, registry

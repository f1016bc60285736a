"""Flags, validation and prerequisite checks: what a user sees before any
AWS resource is touched."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import run_script


def fake_aws(directory: Path, version: str, knows_streaming: bool) -> dict:
    """A PATH whose `aws` reports VERSION and, unless KNOWS_STREAMING, a
    put-integration skeleton without the streaming fields."""
    fields = '"responseTransferMode": "", "integrationTarget": ""' if knows_streaming else '"uri": ""'
    script = directory / "aws"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "aws-cli/{version} Python/3.11.7 Linux/6"; exit 0; fi\n'
        f'if [ "$3" = --generate-cli-skeleton ]; then echo \'{{{fields}}}\'; exit 0; fi\n'
        "echo 'unexpected call' >&2; exit 99\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{directory}:{os.environ['PATH']}"}


@pytest.mark.parametrize("script", ["up.sh", "down.sh"])
def test_help_documents_flags_and_environment(script):
    result = run_script(script, "--help")
    for word in ["--region", "AWS_REGION", "--stack", "STACK_NAME", "--dry-run"]:
        assert word in result.stdout
    if script == "up.sh":
        for word in ["--public", "--no-wait", "MODEL_ID", "IMAGE_URI", "--min-tasks", "HEARTBEAT_SECS",
                     "DRAIN_SECS", "THROTTLE_RATE", "QUOTA_PER_DAY", "--arch"]:
            assert word in result.stdout
    else:
        assert "--purge" in result.stdout


def test_old_v1_cli_is_refused_with_the_reason(tmp_path):
    result = run_script("up.sh", "--no-wait", "--image-uri", "x/y:z", env=fake_aws(tmp_path, "1.45.11", False),
                        check=False)
    assert result.returncode != 0
    assert "1.45.11 is too old" in result.stderr
    assert "1.46.3" in result.stderr and "--response-transfer-mode" in result.stderr


def test_v2_cli_without_streaming_flags_is_refused(tmp_path):
    result = run_script("down.sh", env=fake_aws(tmp_path, "2.15.0", False), check=False)
    assert result.returncode != 0
    assert "does not know put-integration --response-transfer-mode" in result.stderr


def test_missing_credentials_are_named(tmp_path):
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "HOME": str(tmp_path)}
    result = run_script("up.sh", "--no-wait", "--image-uri", "x/y:z", env=env, check=False)
    assert result.returncode != 0
    assert "no usable AWS credentials" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alb-idle-timeout", "10"], "--alb-idle-timeout must be at least 16"),
        (["--drain-secs", "200"], "--drain-secs must be at most 100"),
        (["--max-stream-secs", "900"], "--max-stream-secs must be at most 890"),
        (["--stack", "Bad_Name"], "stack name 'Bad_Name'"),
        (["--min-tasks", "3", "--max-tasks", "2"], "--max-tasks must be at least 3"),
        (["--image", "/nonexistent/result"], "build it with 'nix build .#image'"),
        (["--bogus"], "unknown option '--bogus'"),
        (["--region"], "--region needs a value"),
    ],
)
def test_bad_settings_are_rejected_before_any_call(args, message, recorder):
    recorder.start()
    result = run_script("up.sh", *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert recorder.stop() == [], "nothing may reach AWS before the settings are valid"

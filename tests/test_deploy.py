"""The container files, checked without a Docker engine: hadolint and a compose implementation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CONTRACT_SETTINGS = {
    "DATABASE_URL",
    "REDIS_URL",
    "STORAGE_BACKEND",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "SECRET_KEY",
    "MASTER_KEY",
    "CORS_ORIGINS",
    "ALLOW_PRIVATE_ENDPOINTS",
    "MAX_UPLOAD_BYTES",
}
COMPOSE_SECRETS = {
    "POSTGRES_PASSWORD": "pg-pass",
    "MINIO_ROOT_PASSWORD": "minio-pass",
    "SECRET_KEY": "s" * 40,
    "MASTER_KEY": "m" * 40,
}


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def compose_config(repo_root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bin_path("podman-compose"), "--dry-run", "-f", str(repo_root / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=repo_root,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
    )


def test_dockerfile_passes_hadolint(repo_root: Path) -> None:
    result = subprocess.run(
        [bin_path("hadolint"), "--failure-threshold", "info", str(repo_root / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_and_migrates_before_serving(repo_root: Path) -> None:
    text = (repo_root / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2
    assert "USER 10001" in text
    assert "python -m app migrate && exec python -m app serve" in text


def test_compose_file_is_valid_and_complete(repo_root: Path) -> None:
    result = compose_config(repo_root, COMPOSE_SECRETS)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"app", "postgres", "redis", "minio"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    app = services["app"]
    assert set(app["environment"]) >= CONTRACT_SETTINGS
    assert app["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert {dep: spec["condition"] for dep, spec in app["depends_on"].items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "minio": "service_healthy",
    }


def test_compose_refuses_to_start_without_secrets(repo_root: Path) -> None:
    result = compose_config(repo_root, {})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr

"""docker: for each running container, the digest its image was pulled with (``RepoDigests``)
against the digest the registry serves now (``docker buildx imagetools inspect``, read-only: no
pull). Locally built images and bare image ids have nothing to compare and are skipped."""

from __future__ import annotations

import json
import re
from typing import Any

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_HEX_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


class DockerOptions(CheckerOptions):
    containers: str = "all"
    exclude: list[str] = []


def parse_ps(text: str) -> list[tuple[str, str]]:
    """``docker ps --format '{{json .}}'`` (one JSON object per container) as (container, image).

    A container with several names (legacy links: ``web,other/alias``) is reported by its first.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CheckerError(f"docker ps line {number} is not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise CheckerError(f"docker ps line {number} is not a JSON object")
        name = str(row.get("Names", "")).split(",")[0].strip()
        image = str(row.get("Image", "")).strip()
        if name and image:
            rows.append((name, image))
    return rows


def parse_repo_digests(text: str) -> list[str]:
    """``docker image inspect IMAGE`` (a JSON array with one object per image) -> the
    ``sha256:`` digests of its ``RepoDigests`` (empty for an image built locally)."""
    try:
        values: Any = json.loads(text.strip() or "[]")
    except json.JSONDecodeError as exc:
        raise CheckerError(
            f"docker image inspect printed something that is not JSON: {exc}"
        ) from exc
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise CheckerError("docker image inspect printed JSON that is not a list of images")
    digests = [str(d) for image in values for d in image.get("RepoDigests") or []]
    return [d.split("@", 1)[1] for d in digests if "@" in d]


def parse_imagetools_digest(text: str) -> str:
    """The top-level ``Digest:`` of ``docker buildx imagetools inspect`` (index or manifest)."""
    for line in text.splitlines():
        if line.startswith("Digest:"):
            return line.split(":", 1)[1].strip()
    raise CheckerError("docker buildx imagetools inspect printed no Digest line")


def is_image_id(image: str) -> bool:
    """A bare image id (``4f0a1b2c3d4e``, ``sha256:...``) rather than a registry reference."""
    return bool(_HEX_ID.match(image))


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


class DockerChecker(Checker):
    name = "docker"
    options_model = DockerOptions
    options: DockerOptions

    def wanted(self, name: str) -> bool:
        allowed = {c.strip() for c in self.options.containers.split(",")}
        return ("all" in allowed or name in allowed) and name not in self.options.exclude

    def find_updates(self) -> list[Update]:
        ps = require(self.runner.run(["docker", "ps", "--format", "{{json .}}"]))
        updates = []
        for container, image in parse_ps(ps.stdout):
            if not self.wanted(container) or is_image_id(image):
                continue
            inspect = self.runner.run(["docker", "image", "inspect", image])
            local = parse_repo_digests(require(inspect).stdout)
            if not local:
                continue  # built locally: no registry digest to compare with
            remote = parse_imagetools_digest(
                require(
                    self.runner.run(["docker", "buildx", "imagetools", "inspect", image])
                ).stdout
            )
            if remote not in local:
                updates.append(
                    Update(
                        checker="docker",
                        package=container,
                        current_version=short(local[0]),
                        available_version=short(remote),
                        kind="image",
                        source=image,
                    )
                )
        return updates

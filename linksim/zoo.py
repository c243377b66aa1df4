"""The checkpoint zoo: named, versioned model weights shipped with the package.

Each entry names a file under ``linksim/checkpoints/`` and its model card. The zoo is empty
until the first trained model (DeepJSCC, issue #4) lands; ``linksim list`` shows what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckpointInfo:
    """A zoo entry: ``name`` such as ``cifar10-deepjscc-v1``, the file, its hash and a summary."""

    name: str
    filename: str
    sha256: str
    summary: str


CHECKPOINTS: dict[str, CheckpointInfo] = {}


def available_checkpoints() -> list[str]:
    return sorted(CHECKPOINTS)

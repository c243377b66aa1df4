"""The files a scenario depends on, and their SHA-256.

A config field that names a file (a checkpoint, an MCS table, a dataset root, a mask folder, an
SNR trace...) declares it in its type::

    checkpoint: Annotated[str, InputFile(checkpoint_file)] = "cifar10-deepjscc-v1"

where the resolver turns the field's value into the file(s) it stands for (a zoo name into the
installed file, ``auto`` into the shipped tables; an empty list for a value that names no file).
:func:`input_files` walks any config and finds those fields, so a new component's files are
hashed by declaring them; :func:`input_digests` gives their content hashes, which go into
every point's cache key (replacing a file at the same path invalidates the rows computed with
it) and into ``manifest.json``.

A folder's digest is the SHA-256 of its files' relative names and digests (sorted), so adding,
removing or changing any file changes it. Digests are memoised per process by path, size and
modification time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from linksim.errors import LinksimError

Resolver = Callable[[str], list[Path]]


def as_path(value: str) -> list[Path]:
    """The default resolver: the value is a path (relative to the working directory)."""
    return [Path(value).expanduser()]


@dataclass(frozen=True)
class InputFile:
    """``Annotated`` metadata marking a config field as naming input file(s).

    Attributes:
        resolve: value -> the files it names (default: the value is the path).
    """

    resolve: Resolver = as_path


def input_files(config: Any, prefix: str = "") -> dict[str, list[Path]]:
    """``{field path: files}`` of every :class:`InputFile` field set in ``config`` (a pydantic
    model, or lists and dicts of them), e.g. ``{"schemes[1].checkpoint": [Path(...)]}``."""
    found: dict[str, list[Path]] = {}
    if isinstance(config, BaseModel):
        for name, info in type(config).model_fields.items():
            value = getattr(config, name)
            where = f"{prefix}.{name}" if prefix else name
            marker = next((m for m in info.metadata if isinstance(m, InputFile)), None)
            if marker is not None and value is not None:
                found[where] = marker.resolve(str(value))
            else:
                found.update(input_files(value, where))
    elif isinstance(config, (list, tuple)):
        for i, item in enumerate(config):
            found.update(input_files(item, f"{prefix}[{i}]"))
    elif isinstance(config, dict):
        for key, item in config.items():
            found.update(input_files(item, f"{prefix}.{key}" if prefix else str(key)))
    return found


def input_digests(config: Any, prefix: str = "") -> dict[str, str]:
    """``{field path: SHA-256}`` of the files of :func:`input_files` (several files of one field
    are hashed together, in order)."""
    digests = {}
    for where, paths in input_files(config, prefix).items():
        hashes = [file_digest(path, where) for path in paths]
        digests[where] = hashes[0] if len(hashes) == 1 else _combine(str(i) for i in hashes)
    return digests


_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path, where: str = "") -> str:
    """SHA-256 of a file, or of a folder's files (see the module docstring); one-line error if
    it cannot be read (``where`` names the field)."""
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            return _combine(f"{p.relative_to(path).as_posix()}\0{file_digest(p, where)}" for p in files)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _MEMO:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _MEMO[key] = digest.hexdigest()
        return _MEMO[key]
    except OSError as exc:
        raise LinksimError(f"{where or path}: cannot read {path} to hash it ({exc.strerror or exc})") from None


def _combine(parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\n")
    return digest.hexdigest()

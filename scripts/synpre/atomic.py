"""Atomic file writes: an output either exists complete or not at all.

Snakemake treats an existing output as done; a job killed half-way through a write must never leave a
file that looks finished. Everything is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_frames(path, frames) -> None:
    """Write structures as extxyz atomically (ase picks compression from a .gz suffix)."""
    from ase.io import write

    with atomic_path(path) as tmp:
        write(tmp, list(frames), format="extxyz")


def write_csv(path, table) -> None:
    """A pandas table as CSV, atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)

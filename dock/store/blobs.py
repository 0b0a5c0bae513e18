"""Content-addressed zip storage: `blobs/<id[:2]>/<id>.zip`, id = sha256 of the bytes.

A blob is written under `blobs/tmp/` while its hash is computed, fsynced, and renamed into
place only when the hash is what the caller expected. A crash therefore leaves at most a
`.part` file in tmp (swept at the next open), never a partial or wrong file under an id.
Because the path *is* the hash, removing one learnware and adding another can never touch a
third learnware's bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from dock.errors import StoreError
from dock.home import DockHome

ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def is_learnware_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BlobStore:
    def __init__(self, home: DockHome):
        self.home = home

    def path(self, learnware_id: str) -> Path:
        if not is_learnware_id(learnware_id):
            raise StoreError(f"not a learnware id (64 lowercase hex chars): {learnware_id!r}")
        return self.home.blob_path(learnware_id)

    def has(self, learnware_id: str) -> bool:
        return self.path(learnware_id).is_file()

    def put_file(self, src: str | os.PathLike, expected_id: str | None = None) -> tuple[str, bool]:
        """Copy `src` in; returns (id, created). Raises StoreError if the hash is not `expected_id`."""
        with open(src, "rb") as f:
            return self.put_stream(f, expected_id)

    def put_stream(self, stream: BinaryIO, expected_id: str | None = None) -> tuple[str, bool]:
        self.home.blob_tmp.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(suffix=".part", dir=self.home.blob_tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if expected_id is not None and actual != expected_id:
                raise StoreError(f"content hash {actual[:12]}… does not match the expected id {expected_id[:12]}…")
            final = self.path(actual)
            if final.is_file():
                return actual, False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            _fsync_dir(final.parent)
            return actual, True
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def remove(self, learnware_id: str) -> bool:
        path = self.path(learnware_id)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def ids(self) -> set[str]:
        found = set()
        for sub in self.home.blobs.glob("??"):
            for path in sub.glob("*.zip"):
                if is_learnware_id(path.stem):
                    found.add(path.stem)
        return found

    def sweep_tmp(self) -> int:
        """Delete partial writes left by a crash. Only the owner calls this, at open."""
        count = 0
        if self.home.blob_tmp.is_dir():
            for path in self.home.blob_tmp.iterdir():
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                count += 1
        return count


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

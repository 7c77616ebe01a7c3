"""Where photo files are kept: by content hash, in a folder (default) or an S3 bucket.

A key is the SHA-256 of the file's bytes (``geo.media.photos.Copy.key``): the same copy is
kept once however many appeals carry it, and a file never changes under its key. Files are
written whole or not at all (a temporary name, then an atomic rename; S3's PUT is atomic), so
a reader never sees half a photo; rows pointing at them are written only after.

The store is chosen by settings (:func:`open_store`): ``QALA_PHOTO_STORE=folder`` (default)
keeps ``QALA_DATA_DIR/photos/ab/cd/<key>.jpg``; ``QALA_PHOTO_STORE=s3`` a bucket
(``QALA_S3_BUCKET``, ``QALA_S3_ENDPOINT_URL`` for MinIO, credentials as boto3 finds them).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from geo.infra.errors import InvalidInput

_KEY = re.compile(r"[0-9a-f]{64}")


def _check(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidInput("a photo key is 64 hexadecimal characters (its SHA-256)")
    return key


class PhotoStore(Protocol):
    """What keeps photo files by content hash."""

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` (its SHA-256); a key already kept is left as it is."""

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, ``None`` when there are none."""


class FolderStore:
    """Photo files in a folder: ``<root>/ab/cd/<key>.jpg``.

    >>> import tempfile, hashlib
    >>> store = FolderStore(tempfile.mkdtemp())
    >>> key = hashlib.sha256(b"x").hexdigest()
    >>> store.put(key, b"x"); store.get(key)
    b'x'
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where ``key`` lives."""
        key = _check(key)
        return self.root / key[:2] / key[2:4] / f"{key}.jpg"

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)  # atomic: the whole file or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None


class S3Store:
    """Photo files in an S3 bucket (AWS, MinIO …) through boto3, ``<prefix><key>.jpg``."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, prefix: str = "photos/"):
        import boto3  # optional: only this store needs it (pip install boto3)

        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)

    def _name(self, key: str) -> str:
        return f"{self.prefix}{_check(key)}.jpg"

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._name(key), Body=data, ContentType="image/jpeg"
        )

    def get(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return answer["Body"].read()


def open_store(settings) -> PhotoStore:
    """The store the settings name (``photo_store``: ``folder`` or ``s3``)."""
    if settings.photo_store == "s3":
        if not settings.s3_bucket:
            raise InvalidInput("QALA_PHOTO_STORE=s3 needs QALA_S3_BUCKET")
        return S3Store(settings.s3_bucket, settings.s3_endpoint_url)
    return FolderStore(Path(settings.data_dir) / "photos")

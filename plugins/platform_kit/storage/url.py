"""Object-storage URLs: ``s3://bucket/prefix`` and ``gs://bucket/prefix``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from platform_kit.exceptions import StorageError

SCHEMES = ("s3", "gs")

# Deliberately loose (S3 and GCS differ in details); it only has to catch obvious typos before any call.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


@dataclass(frozen=True)
class StorageURL:
    """A parsed destination: which service, which bucket, and a key prefix without slashes at the ends.

    ``str(url)`` gives back the canonical form, e.g. ``s3://backups/metadb``.
    """

    scheme: str
    bucket: str
    prefix: str = ""

    def key(self, *parts: str) -> str:
        """The object key for ``parts`` below this prefix: ``url.key("2026", "manifest.json")``."""
        pieces = [self.prefix, *(p.strip("/") for p in parts)]
        return "/".join(p for p in pieces if p)

    def child(self, *parts: str) -> StorageURL:
        """The URL of a sub-prefix, e.g. one backup's folder."""
        return StorageURL(self.scheme, self.bucket, self.key(*parts))

    def url_for(self, key: str) -> str:
        """The full URL of an object key in this bucket."""
        return f"{self.scheme}://{self.bucket}/{key}"

    def __str__(self) -> str:
        return (
            f"{self.scheme}://{self.bucket}/{self.prefix}"
            if self.prefix
            else f"{self.scheme}://{self.bucket}"
        )


def parse_url(url: str) -> StorageURL:
    """Parse ``s3://bucket/prefix`` or ``gs://bucket/prefix``.

    :param url: the destination; the prefix may be empty or end with ``/``.
    :raises StorageError: for any other scheme, a missing bucket or an invalid bucket name.
    """
    text = (url or "").strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise StorageError(f"not a storage URL: {text!r}; use s3://bucket/prefix or gs://bucket/prefix")
    scheme = scheme.lower()
    if scheme == "gcs":
        scheme = "gs"
    if scheme not in SCHEMES:
        raise StorageError(
            f"unsupported storage scheme {scheme!r} in {text!r}; use s3://bucket/prefix or gs://bucket/prefix"
        )
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StorageError(f"no bucket in {text!r}; use {scheme}://bucket/prefix")
    if not _BUCKET_RE.match(bucket):
        raise StorageError(
            f"invalid bucket name {bucket!r} in {text!r}; bucket names are 3-222 lowercase letters, "
            "digits, '.', '-' or '_'"
        )
    prefix = "/".join(p for p in prefix.split("/") if p)
    if ".." in prefix.split("/"):
        raise StorageError(f"'..' is not allowed in a storage prefix: {text!r}")
    return StorageURL(scheme, bucket, prefix)

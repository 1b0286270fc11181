"""Authenticated encryption of an export file (AES-256-GCM) with a key kept in its own Connection.

Exports are small (kilobytes to a few MiB), so the whole payload is encrypted in one AES-GCM message. The
file layout is::

    MAGIC (8 bytes) | flags (1 byte) | key fingerprint (16 bytes) | nonce (12 bytes) | ciphertext + tag

Everything before the ciphertext is authenticated as associated data, so changing any byte of the file
(header or body) makes decryption fail. The fingerprint is a one-way hash of the key: it tells a wrong key
apart from a damaged file without revealing anything about the key. A damaged fingerprint must not pass
for a wrong key, so a mismatch is double-checked: if the body authenticates under this key once the
header carries the key's own fingerprint, the key is right and the header was changed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import zlib

from platform_kit.exceptions import ExportDecryptionError, ExportKeyError

MAGIC = b"PKEXP\x00\x01\x00"
FLAG_ZLIB = 0x01
KEY_BYTES = 32
NONCE_BYTES = 12
FINGERPRINT_BYTES = 16
_HEADER_BYTES = len(MAGIC) + 1 + FINGERPRINT_BYTES + NONCE_BYTES
_FINGERPRINT_CONTEXT = b"platform-kit export key fingerprint v1\x00"


def generate_key() -> str:
    """Return a new random key in the form the key Connection's password expects (urlsafe base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(text: str, *, source: str = "the key") -> bytes:
    """Decode a base64 (standard or urlsafe) text into a 32-byte key.

    :param text: the encoded key, e.g. the password of the key Connection.
    :param source: where the key came from, used in the error message (never the key itself).
    :raises ExportKeyError: if the text is empty or not base64 of exactly 32 bytes.
    """
    cleaned = (text or "").strip()
    if not cleaned:
        raise ExportKeyError(f"{source} is empty; put a key from `platform-kit export generate-key` there")
    try:
        padded = cleaned + "=" * (-len(cleaned) % 4)
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ExportKeyError(
            f"{source} is not a base64-encoded {KEY_BYTES}-byte key; "
            "generate one with `platform-kit export generate-key`"
        )
    return raw


def key_fingerprint(key: bytes) -> str:
    """A stable, non-reversible identifier of ``key`` (32 hex characters) for manifests and messages."""
    return hashlib.sha256(_FINGERPRINT_CONTEXT + key).digest()[:FINGERPRINT_BYTES].hex()


def encrypt(plaintext: bytes, key: bytes, *, compress: bool = True) -> bytes:
    """Encrypt ``plaintext`` with AES-256-GCM under ``key``; optionally zlib-compress it first.

    Compression happens before encryption because ciphertext does not compress; an export is written by a
    scheduled task, not from attacker-chosen input, so length side channels do not apply here.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) != KEY_BYTES:
        raise ExportKeyError(f"the key must be {KEY_BYTES} bytes, got {len(key)}")
    flags = FLAG_ZLIB if compress else 0
    body = zlib.compress(plaintext, 6) if compress else plaintext
    nonce = os.urandom(NONCE_BYTES)
    header = MAGIC + bytes([flags]) + bytes.fromhex(key_fingerprint(key)) + nonce
    return header + AESGCM(key).encrypt(nonce, body, header)


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` starts like an encrypted platform-kit export (a damaged marker included: at most
    two of its eight bytes differ, which no JSON document and no other format does)."""
    head = data[: len(MAGIC)]
    return len(head) == len(MAGIC) and sum(a != b for a, b in zip(head, MAGIC, strict=True)) <= 2


_DAMAGED = "the file was modified or damaged after it was written; use another copy of the export"


def file_fingerprint(data: bytes) -> str:
    """The key fingerprint recorded in an encrypted export's header."""
    if not is_encrypted(data):
        raise ExportDecryptionError("not an encrypted platform-kit export (bad magic bytes)")
    if not data.startswith(MAGIC):
        raise ExportDecryptionError(f"the export's header is damaged (its format marker changed): {_DAMAGED}")
    if len(data) < _HEADER_BYTES:
        raise ExportDecryptionError(f"the export is truncated inside its header: {_DAMAGED}")
    start = len(MAGIC) + 1
    return data[start : start + FINGERPRINT_BYTES].hex()


def _authenticates(header: bytes, body: bytes, key: bytes) -> bool:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        AESGCM(key).decrypt(header[-NONCE_BYTES:], body, header)
    except InvalidTag:
        return False
    return True


def decrypt(data: bytes, key: bytes) -> bytes:
    """Verify and decrypt an export written by :func:`encrypt`.

    :raises ExportKeyError: the file was encrypted with a different key (fingerprints differ).
    :raises ExportDecryptionError: not an export, truncated, or any byte changed since encryption.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    expected = file_fingerprint(data)
    actual = key_fingerprint(key)
    header, body = data[:_HEADER_BYTES], data[_HEADER_BYTES:]
    if expected != actual:
        start = len(MAGIC) + 1
        repaired = header[:start] + bytes.fromhex(actual) + header[start + FINGERPRINT_BYTES :]
        if _authenticates(repaired, body, key):
            raise ExportDecryptionError(
                f"the export's header is damaged (its key fingerprint changed; the content still "
                f"authenticates with this key): {_DAMAGED}"
            )
        raise ExportKeyError(
            f"wrong key: the file was encrypted with key fingerprint {expected}, "
            f"the given key has fingerprint {actual}"
        )
    flags = header[len(MAGIC)]
    if flags & ~FLAG_ZLIB:
        raise ExportDecryptionError(f"unknown flags {flags:#04x} in the export header; file damaged or newer")
    nonce = header[-NONCE_BYTES:]
    try:
        body = AESGCM(key).decrypt(nonce, body, header)
    except InvalidTag:
        raise ExportDecryptionError(
            "authentication failed: the export was modified or truncated after it was written"
        ) from None
    return zlib.decompress(body) if flags & FLAG_ZLIB else body

"""Envelope encryption of provider keys (AES-256-GCM).

Each record gets a random 256-bit data key that encrypts the secret; the data
key is itself encrypted ("wrapped") by a key-encryption key derived with HKDF
from ``MASTER_KEY``. Both layers authenticate the same associated data (format
version, owner, provider, record id), so a ciphertext copied to another row or
another user fails to decrypt. The stored envelope carries the format version
and the id of the master key that wrapped it, so rotating the master key only
re-wraps data keys and never touches the secrets themselves.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENVELOPE_VERSION = 1
NONCE_BYTES = 12
_KEK_INFO = b"llm-aggregator/key-encryption-key/v1"
_KEY_ID_INFO = b"llm-aggregator/master-key-id/v1"


class DecryptionError(Exception):
    """The envelope does not open: wrong master key, or moved to another record."""


@dataclass(frozen=True, slots=True)
class Envelope:
    version: int
    master_key_id: str
    wrapped_data_key: bytes  # nonce || AES-GCM(KEK, data key)
    ciphertext: bytes  # nonce || AES-GCM(data key, secret)


@dataclass(frozen=True, slots=True)
class MasterKey:
    key_id: str
    _kek: bytes

    @classmethod
    def from_secret(cls, secret: str) -> MasterKey:
        material = secret.encode()
        kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(material)
        key_id = hashlib.sha256(_KEY_ID_INFO + kek).hexdigest()[:16]
        return cls(key_id=key_id, _kek=kek)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


def associated_data(*, owner_id: str, provider: str, record_id: str, version: int = ENVELOPE_VERSION) -> bytes:
    return f"llm-aggregator/api-key/v{version}|{owner_id}|{provider}|{record_id}".encode()


def seal(master: MasterKey, plaintext: bytes, aad: bytes) -> Envelope:
    data_key = AESGCM.generate_key(bit_length=256)
    ciphertext = _encrypt(data_key, plaintext, aad)
    return Envelope(
        version=ENVELOPE_VERSION,
        master_key_id=master.key_id,
        wrapped_data_key=_encrypt(master._kek, data_key, aad),
        ciphertext=ciphertext,
    )


def open_envelope(keyring: dict[str, MasterKey], envelope: Envelope, aad: bytes) -> bytes:
    data_key = _unwrap(keyring, envelope, aad)
    return _decrypt(data_key, envelope.ciphertext, aad)


def rewrap(keyring: dict[str, MasterKey], envelope: Envelope, aad: bytes, new_master: MasterKey) -> Envelope:
    """The same secret under the same data key, wrapped by ``new_master``."""
    data_key = _unwrap(keyring, envelope, aad)
    _decrypt(data_key, envelope.ciphertext, aad)  # refuse to re-wrap an envelope that no longer opens
    return Envelope(
        version=envelope.version,
        master_key_id=new_master.key_id,
        wrapped_data_key=_encrypt(new_master._kek, data_key, aad),
        ciphertext=envelope.ciphertext,
    )


def _unwrap(keyring: dict[str, MasterKey], envelope: Envelope, aad: bytes) -> bytes:
    if envelope.version != ENVELOPE_VERSION:
        raise DecryptionError(f"unsupported envelope version {envelope.version}")
    master = keyring.get(envelope.master_key_id)
    if master is None:
        raise DecryptionError(f"no master key with id {envelope.master_key_id}")
    return _decrypt(master._kek, envelope.wrapped_data_key, aad)


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("envelope does not open with this key and associated data") from None

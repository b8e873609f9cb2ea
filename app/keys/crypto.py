"""Envelope encryption of provider keys (AES-256-GCM).

Each record gets a random 256-bit data key that encrypts the secret; the data
key is itself encrypted ("wrapped") by a key-encryption key derived with HKDF
from ``MASTER_KEY``. Both layers authenticate the same associated data (format
version, owner, provider, record id), so a ciphertext copied to another row or
another user fails to decrypt. The stored envelope carries the format version
and the id of the master key that wrapped it, so rotating the master key only
re-wraps data keys and never touches the secrets themselves.

A user who sets a vault passphrase adds a layer: their data keys are first
wrapped by their own vault key, and only that blob is wrapped by the master
key ("sealed" envelopes). The vault key is kept wrapped by a key derived from
the passphrase with argon2id, so the server alone cannot open their secrets;
rotating the master key still works, because it only touches the outer layer.
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
    sealed: bool = False  # the data key is also wrapped by the owner's vault key (inside the master's layer)


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


def seal(master: MasterKey, plaintext: bytes, aad: bytes, vault_key: bytes | None = None) -> Envelope:
    data_key = AESGCM.generate_key(bit_length=256)
    ciphertext = _encrypt(data_key, plaintext, aad)
    return Envelope(
        version=ENVELOPE_VERSION,
        master_key_id=master.key_id,
        wrapped_data_key=_wrap_data_key(master, data_key, aad, vault_key),
        ciphertext=ciphertext,
        sealed=vault_key is not None,
    )


def open_envelope(
    keyring: dict[str, MasterKey], envelope: Envelope, aad: bytes, vault_key: bytes | None = None
) -> bytes:
    data_key = _data_key(keyring, envelope, aad, vault_key)
    return _decrypt(data_key, envelope.ciphertext, aad)


def rewrap(keyring: dict[str, MasterKey], envelope: Envelope, aad: bytes, new_master: MasterKey) -> Envelope:
    """The same secret under the same data key, wrapped by ``new_master`` (a sealed envelope's inner
    layer is carried over unopened: rotation needs no passphrase)."""
    inner = _unwrap(keyring, envelope, aad)
    if not envelope.sealed:
        _decrypt(inner, envelope.ciphertext, aad)  # refuse to re-wrap an envelope that no longer opens
    return Envelope(
        version=envelope.version,
        master_key_id=new_master.key_id,
        wrapped_data_key=_encrypt(new_master._kek, inner, aad),
        ciphertext=envelope.ciphertext,
        sealed=envelope.sealed,
    )


def reseal(
    keyring: dict[str, MasterKey],
    envelope: Envelope,
    aad: bytes,
    master: MasterKey,
    *,
    old_vault_key: bytes | None,
    new_vault_key: bytes | None,
) -> Envelope:
    """The same secret and data key, now sealed by ``new_vault_key`` (or by the master key alone)."""
    data_key = _data_key(keyring, envelope, aad, old_vault_key)
    _decrypt(data_key, envelope.ciphertext, aad)
    return Envelope(
        version=envelope.version,
        master_key_id=master.key_id,
        wrapped_data_key=_wrap_data_key(master, data_key, aad, new_vault_key),
        ciphertext=envelope.ciphertext,
        sealed=new_vault_key is not None,
    )


def _wrap_data_key(master: MasterKey, data_key: bytes, aad: bytes, vault_key: bytes | None) -> bytes:
    inner = data_key if vault_key is None else _encrypt(vault_key, data_key, aad)
    return _encrypt(master._kek, inner, aad)


def _data_key(keyring: dict[str, MasterKey], envelope: Envelope, aad: bytes, vault_key: bytes | None) -> bytes:
    inner = _unwrap(keyring, envelope, aad)
    if not envelope.sealed:
        return inner
    if vault_key is None:
        raise DecryptionError("a sealed envelope needs its owner's vault key")
    return _decrypt(vault_key, inner, aad)


# --- vault keys ------------------------------------------------------------------------------------


def new_vault_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_key(kek: bytes, key: bytes, aad: bytes) -> bytes:
    return _encrypt(kek, key, aad)


def unwrap_key(kek: bytes, blob: bytes, aad: bytes) -> bytes:
    return _decrypt(kek, blob, aad)


def wrap_with_master(master: MasterKey, secret: bytes, aad: bytes) -> bytes:
    """``secret`` for a short-lived store (an unlocked vault key in Redis), under the master key."""
    return master.key_id.encode() + b":" + _encrypt(master._kek, secret, aad)


def unwrap_with_master(keyring: dict[str, MasterKey], blob: bytes, aad: bytes) -> bytes:
    key_id, _, wrapped = blob.partition(b":")
    master = keyring.get(key_id.decode(errors="replace"))
    if master is None:
        raise DecryptionError("no master key for this blob")
    return _decrypt(master._kek, wrapped, aad)


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

"""A node's Ed25519 identity: the key file, the peer id, and domain-separated signatures.

Deliberately free of libp2p and trio (importing libp2p costs ~0.8 s and ~85 MB): the dock signs
and verifies records with this module without starting a network. The encodings follow the
libp2p specs so the peer id printed here is the one libp2p derives from the same key:

* key file: the libp2p protobuf `PrivateKey` {Type = 1 (Ed25519), Data = seed(32) || public(32)},
  the same bytes go-libp2p and js-libp2p marshal, so the file can be moved between stacks;
* peer id: base58btc of the identity multihash (0x00, length) of the protobuf `PublicKey`
  {Type = 1, Data = public(32)} — "12D3KooW..." — so a receiver recovers the public key from a
  peer id alone and can verify a record from a publisher it has never connected to.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import IdentityError

logger = logging.getLogger(__name__)

KEY_TYPE_ED25519 = 1
_PB_TYPE_ED25519 = bytes([0x08, KEY_TYPE_ED25519])  # field 1 (Type), varint 1
_PUBKEY_PB_PREFIX = _PB_TYPE_ED25519 + bytes([0x12, 32])  # field 2 (Data), 32 bytes
_PEER_ID_PREFIX = bytes([0x00, len(_PUBKEY_PB_PREFIX) + 32]) + _PUBKEY_PB_PREFIX  # identity multihash
# Signed messages must never be mistakable for what libp2p itself signs with the same key
# (pubsub messages, Noise static keys, peer records): refuse domains that could collide.
_RESERVED_PREFIXES = (b"libp2p", b"noise-libp2p")
MAX_DOMAIN = 255

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        if ch not in _B58_INDEX:
            raise IdentityError(f"not base58: {ch!r} in {text[:60]!r}")
        n = n * 58 + _B58_INDEX[ch]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + body


def peer_id_from_public_key(public_key: bytes) -> str:
    """The libp2p peer id ("12D3KooW...") of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise IdentityError(f"an Ed25519 public key is 32 bytes, got {len(public_key)}")
    return _b58encode(_PEER_ID_PREFIX + public_key)


def public_key_from_peer_id(peer_id: str) -> bytes:
    """The raw 32-byte Ed25519 public key embedded in a peer id; IdentityError for other key types."""
    if not isinstance(peer_id, str) or not 40 <= len(peer_id) <= 60:
        raise IdentityError(f"not an Ed25519 peer id: {str(peer_id)[:60]!r}")
    return _key_of(peer_id)


@functools.lru_cache(maxsize=4096)  # a sync verifies a publisher's records by the thousand: base58 once
def _key_of(peer_id: str) -> bytes:
    raw = _b58decode(peer_id)
    if len(raw) != len(_PEER_ID_PREFIX) + 32 or not raw.startswith(_PEER_ID_PREFIX):
        raise IdentityError(f"not an Ed25519 peer id (identity multihash of an Ed25519 key): {peer_id!r}")
    return raw[len(_PEER_ID_PREFIX) :]


def signed_bytes(domain: bytes, payload: bytes) -> bytes:
    """What is actually signed: uvarint(len(domain)) || domain || payload (see docs/PROTOCOL.md)."""
    if not isinstance(domain, bytes) or not 1 <= len(domain) <= MAX_DOMAIN:
        raise IdentityError(f"a signing domain is 1..{MAX_DOMAIN} bytes")
    if domain.startswith(_RESERVED_PREFIXES):
        raise IdentityError(f"signing domain {domain!r} is reserved for libp2p itself")
    n = len(domain)
    prefix = bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7])
    return prefix + domain + payload


def verify(signer: str | bytes, domain: bytes, payload: bytes, signature: bytes) -> bool:
    """True when `signature` is `signer`'s signature of (domain, payload).

    `signer` is a peer id string or a raw 32-byte public key. Malformed input is simply False:
    this runs on bytes from the network. Checked by libsodium (PyNaCl) when it is installed: half
    the CPU of OpenSSL's check (~45 vs ~90 us for a 2 KB record, most of a sync's verification,
    issue 16), and stricter: it also refuses small-order public keys and R points and
    non-canonical key encodings, which OpenSSL accepts (the identity key with R = identity,
    S = 0 "signs" any message there). Every signature an honest Ed25519 signer makes passes both.
    """
    try:
        raw = signer if isinstance(signer, bytes) else public_key_from_peer_id(signer)
        if len(raw) != 32 or not isinstance(signature, bytes) or len(signature) != 64:
            return False
        message = signed_bytes(domain, payload)
    except (IdentityError, ValueError, TypeError):
        return False
    sodium = _sodium_open()
    if sodium is None:
        return _verify_openssl(raw, message, signature)
    return _verify_sodium(sodium, raw, message, signature)


def _verify_openssl(raw: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _verify_sodium(sodium_open, raw: bytes, message: bytes, signature: bytes) -> bool:
    from nacl.exceptions import CryptoError

    try:
        sodium_open(signature + message, raw)  # crypto_sign_open: signed message = sig || message
        return True
    except (CryptoError, ValueError, TypeError):
        return False


_SODIUM: list = []  # [crypto_sign_open or None], filled on the first verification


def _sodium_open():
    """libsodium's crypto_sign_open, or None without PyNaCl (then OpenSSL verifies). Imported on
    first use: commands that verify nothing do not load it."""
    if not _SODIUM:
        try:
            from nacl.bindings import crypto_sign_open
        except ImportError:  # pragma: no cover - PyNaCl is a dependency (pyproject.toml)
            logger.info("PyNaCl not importable; verifying Ed25519 signatures with OpenSSL")
            crypto_sign_open = None
        _SODIUM.append(crypto_sign_open)
    return _SODIUM[0]


class Identity:
    """An Ed25519 key pair and the peer id derived from it."""

    __slots__ = ("_key", "public_key", "peer_id")

    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.peer_id: str = peer_id_from_public_key(self.public_key)

    @classmethod
    def generate(cls) -> Identity:
        """A fresh in-memory identity (tests, throwaway nodes)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        if len(seed) != 32:
            raise IdentityError("an Ed25519 seed is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        """The 32-byte private seed. Only p2p.host needs it, to hand the key to libp2p."""
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, domain: bytes, payload: bytes) -> bytes:
        """A 64-byte signature over uvarint(len(domain)) || domain || payload."""
        return self._key.sign(signed_bytes(domain, payload))

    def to_key_file_bytes(self) -> bytes:
        """libp2p protobuf PrivateKey: Type = Ed25519, Data = seed || public key."""
        data = self.seed() + self.public_key
        return _PB_TYPE_ED25519 + bytes([0x12, len(data)]) + data

    @classmethod
    def from_key_file_bytes(cls, raw: bytes) -> Identity:
        if not raw.startswith(_PB_TYPE_ED25519 + b"\x12") or len(raw) < 5:
            raise IdentityError("not a libp2p Ed25519 private key (protobuf Type=1, Data=...)")
        size = raw[3]
        data = raw[4:]
        if size != len(data) or size not in (32, 64):
            raise IdentityError(f"Ed25519 private key data must be 32 or 64 bytes, found {len(data)}")
        identity = cls.from_seed(data[:32])
        if size == 64 and data[32:] != identity.public_key:
            raise IdentityError("key file is inconsistent: the stored public key does not match the seed")
        return identity

    def __repr__(self) -> str:
        return f"Identity({self.peer_id})"


def _secure_existing(path: Path) -> None:
    """A key readable by group or others is warned about and tightened to 0600 (not refused:
    refusing would turn an over-permissive umask into a node that cannot start)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("identity key %s had mode %o (readable by others); setting it to 0600", path, mode)
        os.chmod(path, 0o600)


def load_or_create_identity(path: str | os.PathLike[str]) -> Identity:
    """Load the node key at `path`, or create it (mode 0600) if it does not exist.

    Creation is atomic and never clobbers: the key is written to a temp file in the same folder,
    fsynced, then hard-linked into place; if another process won the race, its key is loaded.
    """
    path = Path(path)
    if path.is_symlink():
        raise IdentityError(f"refusing a symlinked identity key: {path}")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        identity = Identity.generate()
        fd, tmp = tempfile.mkstemp(prefix=".identity-", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
        try:
            os.write(fd, identity.to_key_file_bytes())
            os.fsync(fd)
            os.close(fd)
            fd = -1
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it first: use theirs, below
            else:
                _fsync_dir(path.parent)
        finally:
            if fd >= 0:
                os.close(fd)
            os.unlink(tmp)
    _secure_existing(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read identity key {path}: {exc}") from exc
    try:
        return Identity.from_key_file_bytes(raw)
    except IdentityError as exc:
        raise IdentityError(f"{path}: {exc}; move it aside to create a new identity (a new peer id)") from exc


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Identity: a persistent Ed25519 key (0600), a stable peer id, domain-separated signatures."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import pytest

from p2p import identity as ident
from p2p.errors import IdentityError


def test_key_file_created_0600_and_peer_id_stable(tmp_path):
    path = tmp_path / "home" / "identity.key"
    first = ident.load_or_create_identity(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.peer_id.startswith("12D3KooW")
    again = ident.load_or_create_identity(path)
    assert again.peer_id == first.peer_id
    assert again.public_key == first.public_key
    assert [p.name for p in path.parent.iterdir()] == ["identity.key"]  # no temp file left behind


def test_world_readable_key_is_warned_about_and_fixed(tmp_path, caplog):
    path = tmp_path / "identity.key"
    peer_id = ident.load_or_create_identity(path).peer_id
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="p2p.identity"):
        assert ident.load_or_create_identity(path).peer_id == peer_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "readable by others" in caplog.text


def test_corrupt_or_symlinked_key_is_refused(tmp_path):
    path = tmp_path / "identity.key"
    path.write_bytes(b"not a key")
    with pytest.raises(IdentityError, match="move it aside"):
        ident.load_or_create_identity(path)
    link = tmp_path / "link.key"
    link.symlink_to(path)
    with pytest.raises(IdentityError, match="symlink"):
        ident.load_or_create_identity(link)


def test_peer_id_matches_libp2p_derivation_in_a_fresh_process(tmp_path):
    # The node's peer id (what libp2p derives from the key) must be the one identity.py prints.
    path = tmp_path / "identity.key"
    peer_id = ident.load_or_create_identity(path).peer_id
    code = (
        "import sys\n"
        "from libp2p.crypto.ed25519 import Ed25519PrivateKey\n"
        "from libp2p.peer.id import ID\n"
        "raw = open(sys.argv[1], 'rb').read()\n"
        "key = Ed25519PrivateKey.from_bytes(raw[4:36])\n"  # protobuf header (4 bytes), then the seed
        "print(ID.from_pubkey(key.get_public_key()).to_base58())\n"
    )
    out = subprocess.check_output([sys.executable, "-c", code, str(path)], text=True).strip()
    assert out == peer_id


def test_sign_and_verify_with_domain_separation():
    me = ident.Identity.generate()
    sig = me.sign(b"lwdock/record/v1", b"payload")
    assert ident.verify(me.peer_id, b"lwdock/record/v1", b"payload", sig)
    assert ident.verify(me.public_key, b"lwdock/record/v1", b"payload", sig)
    assert not ident.verify(me.peer_id, b"lwdock/tombstone/v1", b"payload", sig)  # other domain
    assert not ident.verify(me.peer_id, b"lwdock/record/v1", b"payload!", sig)
    assert not ident.verify(ident.Identity.generate().peer_id, b"lwdock/record/v1", b"payload", sig)
    # Domain and payload boundaries cannot be shifted: the domain's length is signed.
    assert not ident.verify(me.peer_id, b"lwdock/record/v1p", b"ayload", sig)


def test_verify_is_false_on_garbage_and_reserved_domains_refused():
    me = ident.Identity.generate()
    sig = me.sign(b"d", b"x")
    for signer in ("", "12D3KooW", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", b"short", 42):
        assert not ident.verify(signer, b"d", b"x", sig)
    assert not ident.verify(me.peer_id, b"d", b"x", sig[:-1])
    for domain in (b"", b"libp2p-pubsub:", b"noise-libp2p-static-key:", b"x" * 256):
        with pytest.raises(IdentityError):
            me.sign(domain, b"x")


def test_peer_id_public_key_round_trip():
    me = ident.Identity.generate()
    assert ident.public_key_from_peer_id(me.peer_id) == me.public_key
    assert ident.peer_id_from_public_key(me.public_key) == me.peer_id
    with pytest.raises(IdentityError):
        ident.public_key_from_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")  # sha256 (RSA-style) id


def test_importing_identity_does_not_load_libp2p_or_trio():
    code = "import sys, p2p; p2p.Identity.generate(); p2p.verify; print('libp2p' in sys.modules, 'trio' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).split() == ["False", "False"]

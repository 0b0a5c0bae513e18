"""Ed25519 verification through libsodium (issue 16: half the CPU of OpenSSL's check) accepts
exactly what OpenSSL's accepts on honest signatures and their alterations, and refuses more:
small-order keys, with which OpenSSL lets anyone "sign" anything."""

from __future__ import annotations

import os
import random

import msgpack
import pytest

from dock.network.signed_records import DOMAIN, RecordError, decode_envelope, sign_record
from p2p import identity as ident

# the order of the Ed25519 group: S + L is the same scalar, a malleated signature
_L = 2**252 + 27742317777372353535851937790883648493


def _altered(rng: random.Random, raw: bytes, payload: bytes, sig: bytes, other: bytes) -> list[tuple]:
    flip = rng.randrange(64 * 8)
    flipped_sig = bytearray(sig)
    flipped_sig[flip // 8] ^= 1 << (flip % 8)
    body_bit = rng.randrange(max(1, len(payload)) * 8)
    flipped_payload = bytearray(payload or b"\0")
    flipped_payload[body_bit // 8] ^= 1 << (body_bit % 8)
    s_plus_l = (int.from_bytes(sig[32:], "little") + _L).to_bytes(32, "little")
    return [
        (raw, payload, bytes(flipped_sig)),      # one bit of the signature
        (raw, bytes(flipped_payload), sig),      # one bit of what was signed
        (other, payload, sig),                   # another publisher's key
        (raw, payload + b"x", sig),              # a byte appended
        (raw, payload, sig[:63]),                # truncated
        (raw, payload, bytes(64)),               # all zeros
        (raw, payload, sig[:32] + s_plus_l),     # S + L: the same scalar, not canonical
    ]


def test_sodium_and_openssl_agree_on_valid_and_altered_signatures():
    assert ident._sodium_open() is not None, "PyNaCl (a dependency) must be importable: verify() uses it"
    rng = random.Random(16)
    keys = [ident.Identity.generate() for _ in range(8)]
    corpus = []
    for n in range(200):
        signer, other = keys[n % 8], keys[(n + 1) % 8]
        payload = os.urandom(rng.choice([0, 1, 31, 64, 2000, 30000]))
        sig = signer.sign(DOMAIN, payload)
        corpus.append((signer.public_key, payload, sig, True))
        corpus += [(*case, False) for case in _altered(rng, signer.public_key, payload, sig, other.public_key)]
    for raw, payload, sig, honest in corpus:
        message = ident.signed_bytes(DOMAIN, payload)
        openssl = len(sig) == 64 and ident._verify_openssl(raw, message, sig)
        assert ident.verify(raw, DOMAIN, payload, sig) is honest
        assert openssl is honest
        assert ident.verify(ident.peer_id_from_public_key(raw), DOMAIN, payload, sig) is honest


def test_small_order_key_forgery_is_refused_though_openssl_accepted_it():
    # The identity point as a public key, R = identity, S = 0: [S]B == R + [h]A holds for any
    # message, so OpenSSL's check passes and anyone could publish under this key's peer id.
    small_order_key = bytes([1]) + bytes(31)
    forged = small_order_key + bytes(32)
    message = ident.signed_bytes(DOMAIN, b"any record at all")
    assert ident._verify_openssl(small_order_key, message, forged)  # why the stricter check matters
    assert not ident.verify(small_order_key, DOMAIN, b"any record at all", forged)
    # an honest key and signature still pass
    honest = ident.Identity.generate()
    assert ident.verify(honest.peer_id, DOMAIN, b"any record at all", honest.sign(DOMAIN, b"any record at all"))


def test_a_record_forged_for_a_small_order_publisher_is_refused_and_honest_records_decode():
    honest = ident.Identity.generate()
    record = sign_record(honest, learnware_id="ab" * 32, size=10, semantic_spec=_semantic(),
                         model_config={"class_name": "M", "kwargs": {}}, spec_bytes=_spec_bytes(), seq=1)
    envelope = msgpack.unpackb(record.envelope, raw=False)
    small_order_key = bytes([1]) + bytes(31)
    forged = msgpack.packb({"v": 1, "pub": ident.peer_id_from_public_key(small_order_key),
                            "body": envelope["body"], "sig": small_order_key + bytes(32)}, use_bin_type=True)
    with pytest.raises(RecordError, match="bad signature"):
        decode_envelope(forged)
    altered_body = bytearray(envelope["body"])
    altered_body[-1] ^= 1
    altered = msgpack.packb({**envelope, "body": bytes(altered_body)}, use_bin_type=True)
    with pytest.raises(RecordError, match="bad signature"):
        decode_envelope(altered)
    assert decode_envelope(record.envelope).id == "ab" * 32


def _semantic() -> dict:
    from specs import generate_semantic_spec

    return generate_semantic_spec(name="signed", description="d", data_type="Table", task_type="Classification",
                                  library_type="Scikit-learn", scenarios=["Others"], license="MIT",
                                  input_description={"Dimension": 4, "Description": {}},
                                  output_description={"Dimension": 2, "Description": {}})


def _spec_bytes() -> dict[str, bytes]:
    import numpy as np

    from specs import generate_stat_spec

    spec = generate_stat_spec(type="table", X=np.random.default_rng(0).normal(size=(60, 4)))
    return {spec.type: spec.to_bytes()}


def test_a_plugin_spec_that_builds_without_validating_is_still_validated(tmp_path):
    # decode_envelope skips a second validate() only for the built-in kinds, whose constructors
    # validate; a plugin's class is validated as before
    import numpy as np

    from specs import SpecError, registry
    from specs.table import RKMETableSpecification

    class LaxPluginSpecification(RKMETableSpecification):
        type = "LaxPluginSpecification"

        def __init__(self, z, beta, gamma, num_points=0, version=1, privacy=None):
            self.z, self.beta, self.gamma = np.asarray(z), np.asarray(beta), gamma
            self.num_points, self.version, self.privacy = num_points, version, privacy

        def validate(self):
            raise SpecError("the lax plugin's own check refused it")

    registry.register_spec_class(LaxPluginSpecification.type, LaxPluginSpecification)
    try:
        plain = next(iter(_spec_bytes().values()))
        from specs import spec_from_bytes

        table = spec_from_bytes(plain)
        lax = LaxPluginSpecification(table.z, table.beta, table.gamma, num_points=table.num_points)
        honest = ident.Identity.generate()
        with pytest.raises(RecordError, match="lax plugin's own check refused it"):
            sign_record(honest, learnware_id="cd" * 32, size=10, semantic_spec=_semantic(),
                        model_config={"class_name": "M", "kwargs": {}},
                        spec_bytes={lax.type: lax.to_bytes()}, seq=1)
        ok = sign_record(honest, learnware_id="cd" * 32, size=10, semantic_spec=_semantic(),
                         model_config={"class_name": "M", "kwargs": {}}, spec_bytes=_spec_bytes(), seq=1)
        assert list(ok.stat_specs()) == ["RKMETableSpecification"]
    finally:
        registry._loaded.pop(LaxPluginSpecification.type, None)

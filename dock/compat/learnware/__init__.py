"""The reference package's top level (`import learnware; learnware.init(...)`), on lwdock.

Nothing heavy is imported here: the submodules (`.specification`, `.market`, `.reuse`, `.learnware`,
`.client`, `.config`, `.tests.templates`) are imported by the script that needs them.
"""

from __future__ import annotations

import logging

__version__ = "0.3.2"  # the reference version whose public API this layer follows

log = logging.getLogger(__name__)


def init(verbose: bool = True, **kwargs) -> None:
    """The reference's `learnware.init`: updates `config.C` with the keys it knows (root_path,
    logging_level, ...). `deterministic` is accepted: lwdock's fits are seeded (deterministic) already;
    `tf_loglevel` and `mkdir` are accepted and have nothing to do here."""
    from .config import C

    C.reset()
    C.update(**{k: v for k, v in kwargs.items() if k in C})
    level = C.get("logging_level")
    if isinstance(level, int):
        logging.getLogger("dock").setLevel(level)
        logging.getLogger("specs").setLevel(level)
    if verbose:
        log.info("init the learnware compatibility layer with %s", kwargs)

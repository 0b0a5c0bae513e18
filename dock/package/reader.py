"""Learnware zips: safe extraction, reading the reference layout, deterministic writing.

A zip comes from the network, so everything here treats it as hostile: names are checked before
anything touches the disk, sizes are counted while bytes stream out (declared sizes are lies
until proven otherwise), YAML is read with a loader that cannot build Python objects, and a
failed extraction leaves nothing behind. The model code inside is never imported here; it runs
in a worker process (dock/runtime/worker.py).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from dock.errors import PackageError
from dock.store.blobs import sha256_file

MAX_ENTRIES = 2000
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200
# Entries below this size are never flagged for ratio: a tiny file cannot be a bomb, and small
# repetitive files (an all-zero array, a padded JSON) compress far beyond 200:1 legitimately.
RATIO_FLOOR_BYTES = 1024 * 1024
# Many small entries are a bomb too (480 x 1 MiB of zeros in a 530 KiB zip: 925:1), so the whole
# archive is held to a ratio as well: everything extracted, counted as it streams out, against
# the zip's real size on disk (headers can lie; the file's length cannot). Real learnwares
# (pickles, float arrays, code) stay far below 100:1 overall; archives of up to 8 MiB
# uncompressed are never flagged.
MAX_ARCHIVE_RATIO = 100
ARCHIVE_RATIO_FLOOR_BYTES = 8 * 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024  # learnware.yaml, semantic spec, requirements, environment
MAX_SPEC_BYTES = 64 * 1024 * 1024
MAX_YAML_NODES = 20_000  # bounds alias expansion ("billion laughs") before construction
_CHUNK = 1024 * 1024

YAML_FILE = "learnware.yaml"
SEMANTIC_FILE = "semantic_specification.json"
SPEC_MODULES = ("learnware.specification", "specs")
_SPEC_ALIASES = {"RKMEStatSpecification": "RKMETableSpecification"}  # the reference's old name
# The reference fills these in when learnware.yaml leaves them out; we must read the same zips.
_DEFAULT_MODEL = {"class_name": "Model", "module_path": "__init__.py", "kwargs": {}}
_DEFAULT_STAT_SPECS = [
    {"module_path": "learnware.specification", "class_name": "RKMETableSpecification",
     "file_name": "stat_spec.json", "kwargs": {}},
]
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_SKIP_WHEN_PACKING = {"__pycache__", ".DS_Store", ".git"}


@dataclass(frozen=True)
class LearnwarePackage:
    """What a learnware zip says about itself, validated. `id` is the sha256 of the zip bytes."""

    zip_path: Path
    id: str
    model_config: dict
    stat_specs: dict
    semantic_spec: dict
    requirements: str | None
    environment: str | None


# ---------------------------------------------------------------- extraction


def _check_name(name: str) -> tuple[str, ...]:
    """Return the entry's path parts, or raise: absolute, '..', backslash, empty or odd parts."""
    if not name or "\x00" in name:
        raise PackageError(f"zip entry {name!r}: empty name or NUL byte")
    if "\\" in name:
        # A backslash is a separator on Windows and a literal elsewhere: refuse the ambiguity.
        raise PackageError(f"zip entry {name!r}: backslash in name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackageError(f"zip entry {name!r}: absolute path")
    if len(name.encode("utf-8", "surrogateescape")) > 1024:
        raise PackageError(f"zip entry {name[:80]!r}...: path longer than 1024 bytes")
    parts = tuple(name.rstrip("/").split("/"))
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise PackageError(f"zip entry {name[:80]!r}...: a path component is longer than 255 bytes")
        if part == "..":
            raise PackageError(f"zip entry {name!r}: '..' in path")
        if part in ("", "."):
            raise PackageError(f"zip entry {name!r}: empty or '.' path component")
    return parts


def _entry_kind(info: zipfile.ZipInfo) -> str:
    kind = "dir" if info.filename.endswith("/") else "file"
    if info.create_system != 3:  # unix modes are only meaningful from unix zippers
        return kind
    ftype = stat.S_IFMT(info.external_attr >> 16)
    if ftype == 0:  # permission bits only (Python's writestr writes 0o600 like this): a file
        return kind
    if ftype == stat.S_IFLNK:
        raise PackageError(f"zip entry {info.filename!r}: symbolic link")
    if ftype not in (stat.S_IFREG, stat.S_IFDIR):
        raise PackageError(f"zip entry {info.filename!r}: not a regular file (type {oct(ftype)})")
    return "dir" if ftype == stat.S_IFDIR else kind


def _key(parts: tuple[str, ...]) -> str:
    # Case-insensitive or normalising filesystems (macOS, Windows) would merge names equal here.
    return unicodedata.normalize("NFC", "/".join(parts)).casefold()


def archive_limit(archive_bytes: int, max_archive_ratio: float = MAX_ARCHIVE_RATIO) -> int:
    """The most an archive of this size may extract to, all entries together."""
    return int(max(ARCHIVE_RATIO_FLOOR_BYTES, max_archive_ratio * max(archive_bytes, 1)))


def _archive_bomb(name: str, limit: int) -> PackageError:
    return PackageError(f"zip entry {name!r}: the archive expands to more than {limit} bytes, the most its "
                        "size on disk allows (compression ratio; possible zip bomb of many small entries)")


def _plan(zf: zipfile.ZipFile, max_entries: int, max_total: int, max_ratio: float,
          max_archive: int | None = None):
    """Validate every name before writing a byte; return [(info, relative parts, kind)]."""
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise PackageError(f"zip has {len(infos)} entries; at most {max_entries} are allowed")
    entries, declared = [], 0
    seen: dict[str, str] = {}  # normalised name -> the entry name first seen with it
    for info in infos:
        parts = _check_name(info.filename)
        if parts[0] == "__MACOSX":  # Finder's resource forks: noise, never part of a learnware
            continue
        kind = _entry_kind(info)
        if info.flag_bits & 0x1:
            raise PackageError(f"zip entry {info.filename!r}: encrypted entries are not supported")
        key = _key(parts)
        if key in seen:
            raise PackageError(f"zip entry {info.filename!r}: duplicate of {seen[key]!r}")
        seen[key] = info.filename
        if kind == "file":
            declared += info.file_size
            if declared > max_total:
                raise PackageError(
                    f"zip entry {info.filename!r}: declared sizes exceed the {max_total} byte limit")
            if info.file_size > max(RATIO_FLOOR_BYTES, max_ratio * max(info.compress_size, 1)):
                raise PackageError(f"zip entry {info.filename!r}: compression ratio over {max_ratio} "
                                   "(possible zip bomb)")
            if max_archive is not None and declared > max_archive:
                raise _archive_bomb(info.filename, max_archive)
        entries.append((info, parts, kind))
    # A file may not also be a folder of other entries ("a" and "a/b").
    files = {_key(p) for _, p, k in entries if k == "file"}
    for _, parts, _kind in entries:
        for i in range(1, len(parts)):
            if _key(parts[:i]) in files:
                raise PackageError(f"zip entry {'/'.join(parts)!r}: its parent is a file")
    return _strip_common_folder(entries)


def _strip_common_folder(entries):
    """People zip a folder: if every entry sits under one top-level folder, make that the root."""
    tops = {parts[0] for _, parts, _ in entries}
    has_top_file = any(len(parts) == 1 and kind == "file" for _, parts, kind in entries)
    if len(tops) != 1 or has_top_file:
        return entries
    return [(i, parts[1:], k) for i, parts, k in entries if len(parts) > 1]


def _stream(zf, info, target: Path, budget: list[int], max_total: int, max_ratio: float,
            max_archive: int | None = None) -> None:
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            budget[0] += len(chunk)
            if written > info.file_size:
                raise PackageError(f"zip entry {info.filename!r}: expands beyond its declared size")
            if budget[0] > max_total:
                raise PackageError(f"zip entry {info.filename!r}: total uncompressed size exceeds "
                                   f"the {max_total} byte limit")
            if max_archive is not None and budget[0] > max_archive:
                raise _archive_bomb(info.filename, max_archive)
            if written > max(RATIO_FLOOR_BYTES, max_ratio * max(info.compress_size, 1)):
                raise PackageError(f"zip entry {info.filename!r}: compression ratio over {max_ratio} "
                                   "(possible zip bomb)")
            out.write(chunk)


def extract_package(zip_path: str | os.PathLike, dest_dir: str | os.PathLike, *,
                    max_entries: int = MAX_ENTRIES, max_total_bytes: int = MAX_TOTAL_BYTES,
                    max_ratio: float = MAX_RATIO, max_archive_ratio: float = MAX_ARCHIVE_RATIO) -> Path:
    """Extract a learnware zip into `dest_dir` (which must not exist, or be an empty folder).

    Bounds: at most `max_entries` entries and `max_total_bytes` extracted; each entry over 1 MiB
    at most `max_ratio` times its compressed size; the whole archive at most
    `max_archive_ratio` times the zip file's size (over an 8 MiB floor). Sizes are counted as
    bytes stream out, never taken from the headers alone.

    All-or-nothing: files go to a temporary sibling folder that is renamed into place only when
    every entry passed; on any failure the temporary folder is removed and PackageError raised.
    """
    zip_path, dest = Path(zip_path), Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        try:
            with open(zip_path, "rb") as raw, zipfile.ZipFile(raw) as zf:
                # The size of the file actually opened (fstat), so a swapped path cannot lie either.
                max_archive = archive_limit(os.fstat(raw.fileno()).st_size, max_archive_ratio)
                budget = [0]
                for info, parts, kind in _plan(zf, max_entries, max_total_bytes, max_ratio, max_archive):
                    target = tmp.joinpath(*parts)
                    if kind == "dir":
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _stream(zf, info, target, budget, max_total_bytes, max_ratio, max_archive)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
            raise PackageError(f"{zip_path.name}: not a readable zip ({exc})") from exc
        except OSError as exc:
            if not zip_path.is_file():
                raise PackageError(f"{zip_path}: no such file") from exc
            raise
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
        return dest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- reading


class _LearnwareYamlLoader(yaml.SafeLoader):
    """SafeLoader plus `!!python/tuple`, which the reference's yaml.dump writes for shapes."""


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))


_LearnwareYamlLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)


def _count_nodes(node: yaml.Node, limit: int) -> None:
    # Aliases make the composed graph share nodes; walking it as a tree counts them as often as
    # a later consumer would see them, so an exponential "billion laughs" stops here.
    stack, count = [node], 0
    while stack:
        n = stack.pop()
        count += 1
        if count > limit:
            raise PackageError(f"{YAML_FILE}: more than {limit} YAML nodes (alias bomb?)")
        if isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))


def load_learnware_yaml(text: str) -> Any:
    """Parse learnware.yaml without the ability to build arbitrary Python objects."""
    loader = _LearnwareYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, MAX_YAML_NODES)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise PackageError(f"{YAML_FILE}: {exc}".replace("\n", " ")) from exc
    except RecursionError as exc:  # PyYAML composes and constructs recursively
        raise PackageError(f"{YAML_FILE}: nested too deeply") from exc
    finally:
        loader.dispose()


def _plain(value: Any, where: str, depth: int = 0) -> None:
    """kwargs cross to the worker as msgpack: only plain data, no timestamps, sets or bytes."""
    if depth > 32:
        raise PackageError(f"{YAML_FILE}: {where} is nested more than 32 levels deep")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        raise PackageError(f"{YAML_FILE}: {where} holds an integer beyond 64 bits")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _plain(v, where, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise PackageError(f"{YAML_FILE}: {where} has a non-string key {k!r}")
            _plain(v, where, depth + 1)
    else:
        raise PackageError(f"{YAML_FILE}: {where} holds a {type(value).__name__}; only plain "
                           "data (strings, numbers, lists, mappings) is allowed")


def _relative_file(root: Path, name: Any, what: str) -> Path:
    if not isinstance(name, str) or not name:
        raise PackageError(f"{YAML_FILE}: {what} must be a file name, got {name!r}")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts:
        raise PackageError(f"{YAML_FILE}: {what} {name!r} must be a relative path inside the package")
    path = root.joinpath(*parts)
    if not path.is_file():
        raise PackageError(f"{name} is missing ({what} in {YAML_FILE})")
    return path


def _normalise_model(root: Path, cfg: Any) -> dict:
    model = dict(_DEFAULT_MODEL)
    if cfg is not None:
        if not isinstance(cfg, dict):
            raise PackageError(f"{YAML_FILE}: 'model' must be a mapping")
        model.update(cfg)
    name = model["class_name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise PackageError(f"{YAML_FILE}: model class_name {name!r} is not a Python identifier")
    module_path = model["module_path"] if model["module_path"] is not None else "__init__.py"
    if not str(module_path).endswith(".py"):
        raise PackageError(f"{YAML_FILE}: model module_path {module_path!r} must be a .py file")
    _relative_file(root, module_path, "model module_path")
    kwargs = model["kwargs"] if model["kwargs"] is not None else {}
    if not isinstance(kwargs, dict):
        raise PackageError(f"{YAML_FILE}: model kwargs must be a mapping")
    _plain(kwargs, "model kwargs")
    return {"class_name": name, "module_path": module_path, "kwargs": kwargs}


def _read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    if path.stat().st_size > limit:
        raise PackageError(f"{path.name}: larger than {limit} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError(f"{path.name}: not UTF-8 text ({exc})") from exc


def _load_stat_specs(root: Path, entries: Any) -> dict:
    from specs import SpecError, known_spec_types, load_spec  # specs is heavy: import on first use

    if entries is None:
        entries = _DEFAULT_STAT_SPECS
    if not isinstance(entries, list) or not entries:
        raise PackageError(f"{YAML_FILE}: 'stat_specifications' must be a non-empty list")
    found: dict = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise PackageError(f"{YAML_FILE}: each stat_specifications item must be a mapping")
        module, cls = entry.get("module_path"), entry.get("class_name")
        cls = _SPEC_ALIASES.get(cls, cls) if isinstance(cls, str) else cls
        if module not in SPEC_MODULES:
            raise PackageError(f"{YAML_FILE}: stat spec module_path {module!r} is not one of {SPEC_MODULES}")
        if not isinstance(cls, str) or cls not in known_spec_types():
            raise PackageError(f"{YAML_FILE}: unknown stat spec class {cls!r}; "
                               f"known: {', '.join(known_spec_types())}")
        path = _relative_file(root, entry.get("file_name"), "stat spec file_name")
        try:
            data = json.loads(_read_text(path, MAX_SPEC_BYTES))
        except json.JSONDecodeError as exc:
            raise PackageError(f"{entry['file_name']}: not valid JSON ({exc})") from exc
        except RecursionError as exc:
            raise PackageError(f"{entry['file_name']}: nested too deeply") from exc
        if isinstance(data, dict):  # old reference files: no "type", or the old class name
            data["type"] = _SPEC_ALIASES.get(data.get("type", cls), data.get("type", cls))
        try:
            spec = load_spec(data)
        except (SpecError, ValueError, TypeError, KeyError) as exc:
            raise PackageError(f"{entry['file_name']}: {exc}") from exc
        if spec.type != cls:
            raise PackageError(f"{entry['file_name']}: holds a {spec.type}, but {YAML_FILE} says {cls}")
        if spec.type in found:
            raise PackageError(f"{YAML_FILE}: two stat specs of type {spec.type}")
        found[spec.type] = spec
    return found


def _semantic(root: Path, given: dict | None) -> dict:
    from specs import SpecError, validate_semantic_spec

    source = "semantic spec"
    if given is None:
        path = root / SEMANTIC_FILE
        if not path.is_file():
            raise PackageError(f"no semantic spec: {SEMANTIC_FILE} is missing and none was given")
        try:
            given = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise PackageError(f"{SEMANTIC_FILE}: not valid JSON ({exc})") from exc
        except RecursionError as exc:  # the json module parses nested arrays/objects recursively
            raise PackageError(f"{SEMANTIC_FILE}: nested too deeply") from exc
        source = SEMANTIC_FILE
    if not isinstance(given, dict):
        raise PackageError(f"{source}: must be a JSON object")
    try:
        return validate_semantic_spec(given, partial=False)
    except SpecError as exc:
        raise PackageError(f"{source}: {exc}") from exc


def read_folder(root: Path, zip_path: Path, package_id: str,
                semantic_spec: dict | None = None) -> LearnwarePackage:
    """Read an already safely extracted learnware folder (see extract_package)."""
    yaml_path = root / YAML_FILE
    if not yaml_path.is_file():
        raise PackageError(f"{YAML_FILE} is missing")
    config = load_learnware_yaml(_read_text(yaml_path))
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise PackageError(f"{YAML_FILE}: must be a mapping at the top level")
    model = _normalise_model(root, config.get("model"))
    stat_specs = _load_stat_specs(root, config.get("stat_specifications"))
    semantic = _semantic(root, semantic_spec)
    req = root / "requirements.txt"
    env = next((root / n for n in ("environment.yaml", "environment.yml") if (root / n).is_file()), None)
    return LearnwarePackage(
        zip_path=zip_path, id=package_id, model_config=model, stat_specs=stat_specs,
        semantic_spec=semantic, requirements=_read_text(req) if req.is_file() else None,
        environment=_read_text(env) if env else None)


def package_id(zip_path: str | os.PathLike) -> str:
    """A learnware's id: the sha256 of its zip bytes, hex."""
    return sha256_file(zip_path)


def read_package(zip_path: str | os.PathLike, semantic_spec: dict | None = None,
                 **limits) -> LearnwarePackage:
    """Read and validate a learnware zip. `semantic_spec`, when given, wins over the zip's own.

    The zip is extracted (safely, bounded by `limits` as for extract_package) into a temporary
    folder that is removed before returning; the model code is not imported.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise PackageError(f"{zip_path}: no such file")
    with tempfile.TemporaryDirectory(prefix="lwdock-read-") as tmp:
        root = extract_package(zip_path, Path(tmp) / "pkg", **limits)
        return read_folder(root, zip_path.resolve(), package_id(zip_path), semantic_spec)


# ---------------------------------------------------------------- writing


def _files_to_pack(folder: Path) -> list[tuple[str, Path]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow links to folders
        dirnames[:] = [d for d in dirnames if d not in _SKIP_WHEN_PACKING]
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if name in _SKIP_WHEN_PACKING or name.endswith(".pyc"):
                continue
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                raise PackageError(f"{path}: links and special files cannot go into a learnware")
            if path.is_file():
                out.append((path.relative_to(folder).as_posix(), path))
    return sorted(out)


def write_package_zip(folder: str | os.PathLike, out_zip: str | os.PathLike) -> Path:
    """Zip `folder` deterministically: same files and bytes in, same zip bytes (same id) out.

    Entries are sorted, dated 1980-01-01, mode 0644, deflated at zlib's default level
    (byte-identical across runs on one zlib build; another zlib, e.g. zlib-ng, may differ).
    """
    folder, out_zip = Path(folder), Path(out_zip)
    files = _files_to_pack(folder)
    if not files:
        raise PackageError(f"{folder}: nothing to pack")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_zip.name}.", dir=out_zip.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            for name, path in files:
                info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, whatever we run on, so modes mean the same
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                with open(path, "rb") as src, zf.open(info, "w", force_zip64=False) as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
        os.replace(tmp, out_zip)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_zip

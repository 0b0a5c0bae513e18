"""A topic-labelled text corpus built at run time from the Python standard library's docstrings.

    from benchmarks.stdlib_corpus import build_corpus
    corpus = build_corpus()          # {topic: [doc, ...]}, sorted, deterministic
    python benchmarks/stdlib_corpus.py   # prints the size of each topic and a few samples

Source and licence: the docstrings of the CPython standard library that runs this code (the
modules in TOPICS below), Copyright (c) 2001-2024 Python Software Foundation, distributed under
the PSF License Agreement (https://docs.python.org/3/license.html). Nothing is shipped with lwdock
and nothing is downloaded: the text is read from the interpreter's own modules, so the corpus
works offline on any clean install. It depends on the Python version (3.11.7 for the figures in
benchmarks/README.md); for one interpreter it is the same every time.

How a document is made: for each module of a topic, every public function and class defined in
that module (its `__module__` is the module or one of its submodules), and every public method,
property or nested function defined in such a class's own `__dict__`; the object's own
`__doc__` (not inherited, unlike `inspect.getdoc`), cleaned with `inspect.cleandoc`; its first
paragraph that is not a bare call signature (C functions often start with `name(args)`);
whitespace collapsed. Kept if at least MIN_CHARS characters and MIN_WORDS words. Deduplicated:
a text that occurs in two topics is dropped from both (its label would be ambiguous); within a
topic it is kept once. Each topic's documents are sorted.

The topics are areas of the library whose vocabulary overlaps (email vs http headers, asyncio
vs threading, os vs shutil vs storage, xml vs text processing), which is what makes topic
classification of one-sentence docstrings non-trivial.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings

MIN_CHARS = 40
MIN_WORDS = 6
MAX_CHARS = 600  # the embedder reads ~200 words; a docstring's first paragraph is rarely longer

# topic -> modules. Modules missing from an interpreter (removed in a later Python) are skipped.
TOPICS: dict[str, tuple[str, ...]] = {
    "email": ("email", "email.charset", "email.contentmanager", "email.encoders", "email.errors",
              "email.feedparser", "email.generator", "email.header", "email.headerregistry",
              "email.iterators", "email.message", "email.mime.application", "email.mime.audio",
              "email.mime.base", "email.mime.image", "email.mime.message", "email.mime.multipart",
              "email.mime.nonmultipart", "email.mime.text", "email.parser", "email.policy",
              "email.utils", "email._header_value_parser", "email._policybase", "mailbox", "smtplib",
              "imaplib", "poplib", "quopri", "mimetypes"),
    "networking": ("http", "http.client", "http.cookiejar", "http.cookies", "http.server", "urllib.error",
                   "urllib.parse", "urllib.request", "urllib.response", "urllib.robotparser", "socket",
                   "socketserver", "ssl", "ftplib", "ipaddress", "xmlrpc.client", "xmlrpc.server",
                   "wsgiref.handlers", "wsgiref.simple_server", "wsgiref.util", "wsgiref.headers",
                   "webbrowser"),
    "concurrency": ("asyncio.base_events", "asyncio.events", "asyncio.futures", "asyncio.locks",
                    "asyncio.queues", "asyncio.runners", "asyncio.selector_events", "asyncio.streams",
                    "asyncio.subprocess", "asyncio.tasks", "asyncio.transports", "asyncio.protocols",
                    "asyncio.unix_events", "asyncio.base_subprocess", "asyncio.timeouts",
                    "asyncio.taskgroups", "threading", "concurrent.futures._base",
                    "concurrent.futures.process", "concurrent.futures.thread", "multiprocessing.connection",
                    "multiprocessing.context", "multiprocessing.managers", "multiprocessing.pool",
                    "multiprocessing.process", "multiprocessing.queues", "multiprocessing.synchronize",
                    "multiprocessing.shared_memory", "queue", "sched", "selectors", "subprocess"),
    "testing": ("unittest.case", "unittest.loader", "unittest.main", "unittest.mock", "unittest.result",
                "unittest.runner", "unittest.suite", "unittest.async_case", "unittest.signals",
                "doctest", "pdb", "bdb", "trace", "timeit", "cProfile", "profile", "pstats", "faulthandler",
                "tracemalloc"),
    "xml": ("xml.dom", "xml.dom.minidom", "xml.dom.pulldom", "xml.dom.expatbuilder", "xml.dom.domreg",
            "xml.dom.minicompat", "xml.dom.xmlbuilder", "xml.etree.ElementTree", "xml.etree.ElementInclude",
            "xml.sax", "xml.sax.handler", "xml.sax.saxutils", "xml.sax.xmlreader", "xml.sax.expatreader",
            "xml.sax._exceptions", "xml.parsers.expat", "html.parser", "html", "plistlib"),
    "numbers": ("decimal", "_pydecimal", "fractions", "statistics", "math", "cmath", "numbers", "random",
                "operator"),
    "filesystem": ("os", "posixpath", "genericpath", "shutil", "pathlib", "glob", "fnmatch", "tempfile",
                   "filecmp", "stat", "fileinput", "io", "_pyio"),
    "storage": ("sqlite3", "sqlite3.dbapi2", "dbm", "dbm.dumb", "dbm.gnu", "dbm.ndbm", "shelve", "pickle",
                "pickletools", "copyreg", "marshal", "csv", "json", "json.decoder", "json.encoder",
                "configparser", "tomllib", "zipfile", "tarfile", "gzip", "bz2", "lzma", "zlib"),
}

_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.*)?$")
_SPACE = re.compile(r"\s+")


def _first_paragraph(doc: str | None) -> str | None:
    if not isinstance(doc, str) or not doc.strip():
        return None
    for para in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
        text = _SPACE.sub(" ", para).strip()
        if not text or _SIGNATURE.match(text) or text.startswith(("--", ">>>", "..")):
            continue
        text = text[:MAX_CHARS]
        if len(text) >= MIN_CHARS and len(text.split()) >= MIN_WORDS:
            return text
        return None  # the first real paragraph is too short: not a usable document
    return None


def _own(obj, modname: str) -> bool:
    mod = getattr(obj, "__module__", None)
    return isinstance(mod, str) and (mod == modname or mod.startswith(modname + "."))


def _module_docs(modname: str) -> list[str]:
    """The usable first paragraphs of one module's public functions, classes and their members."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(modname)
        except ImportError:
            return []
    docs = []
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        obj = vars(module)[name]
        if not (inspect.isclass(obj) or inspect.isroutine(obj)) or not _own(obj, modname):
            continue
        docs.append(_first_paragraph(obj.__doc__))
        if inspect.isclass(obj):
            for member_name in sorted(vars(obj)):
                if member_name.startswith("_"):
                    continue
                member = vars(obj)[member_name]
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isroutine(member) or isinstance(member, property) or inspect.isdatadescriptor(member):
                    docs.append(_first_paragraph(getattr(member, "__doc__", None)))
    return [d for d in docs if d]


def build_corpus(topics: dict[str, tuple[str, ...]] | None = None) -> dict[str, list[str]]:
    """{topic: sorted unique documents}; texts found under two topics are dropped from both."""
    topics = TOPICS if topics is None else topics
    found: dict[str, set[str]] = {t: set() for t in sorted(topics)}
    for topic in sorted(topics):
        for modname in topics[topic]:
            found[topic].update(_module_docs(modname))
    owners: dict[str, int] = {}
    for docs in found.values():
        for d in docs:
            owners[d] = owners.get(d, 0) + 1
    return {t: sorted(d for d in docs if owners[d] == 1) for t, docs in found.items()}


def main() -> None:
    import sys

    corpus = build_corpus()
    print(f"Python {sys.version.split()[0]}: {sum(map(len, corpus.values()))} documents")
    for topic, docs in corpus.items():
        mean_words = sum(len(d.split()) for d in docs) / max(len(docs), 1)
        print(f"  {topic:<12} {len(docs):5d} docs, {mean_words:5.1f} words on average")
    for topic, docs in corpus.items():
        print(f"{topic}: {docs[len(docs) // 2]!r}")


if __name__ == "__main__":
    main()

"""`lwdock`: the command line. A thin layer: parse, call the dock, render.

Errors lwdock raises on purpose (dock/errors.py's REGISTRY: the dock's, specs' and p2p's) go to
stderr as one line with their own exit code; nothing but results goes to stdout, so `--json` output can be piped.
Heavy modules are imported inside the commands so `lwdock --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from dock.cli import output as out
from dock.errors import error_kind, exit_code_table

EPILOG = """\
The dock lives in $LWDOCK_HOME (default: your user data dir, e.g. ~/.local/share/lwdock).

examples:
  lwdock demo                                   build a small demo dock and search it
  lwdock spec table mydata.csv -o stat.json     sketch your data (rows never leave your machine)
  lwdock spec image images.npy -o stat.json     ... images (N, H, W) / (N, C, H, W); text: one doc per line
  lwdock search --stat stat.json                find learnwares whose training data resembles yours
  lwdock search --stat mydata.csv               ... or give the data file (a `target`/`label` column is left out)
  lwdock search "iris flowers" --task Classification --json
  lwdock pack --model model.pkl --data train.csv --label-column target --name "My model" -o my.zip
  lwdock submit my.zip                          check it and store it; prints its id
  lwdock show 3fa2c1                            any unambiguous id prefix works
  lwdock node &                                 keep the dock running headless; commands then use it
  lwdock status --json
  lwdock trust 12D3KooW... --note "lab server"  its records skip quotas and are never evicted

exit codes (the same embedded and through a running node; docs/EXIT_CODES.md):
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwdock",
        description="lwdock: a local-first, peer-to-peer learnware dock. Find trained models that fit "
        "your data, without sending your data anywhere.",
        epilog=EPILOG + exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--home", help="dock folder (overrides $LWDOCK_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the dock does to stderr")
    parser.add_argument("--debug", action="store_true",
                        help="print an error's full details (a model's traceback, a bug's) instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    def command(name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
        return p

    p = command(
        "demo",
        "try lwdock: a three-node demo network on 127.0.0.1, opened in the terminal UI",
        "In a terminal: starts three nodes on 127.0.0.1 in a temporary folder (two background\n"
        "`lwdock node` processes and this one), each holding different learnwares trained on\n"
        "scikit-learn's bundled datasets, writes data files to search with, and opens the TUI on\n"
        "this node. The temporary folder is removed on exit (also when the terminal closes or on\n"
        "SIGTERM); the data files and what you save stay in ~/lwdock-demo-output\n"
        "(LWDOCK_DEMO_OUTPUT to choose another folder).\n\n"
        "With --headless (or --json, --home, or when stdout is not a terminal): packs the demo\n"
        "learnwares into one dock, searches it as two users would and prints what fits.",
    )
    p.add_argument("--headless", action="store_true", help="print the demo instead of opening the TUI")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print where it is")

    p = command(
        "pack",
        "build a learnware zip from a fitted model and its training data",
        "Writes a zip in Beimingwu's layout: your model, a statistical spec of the training "
        "data (an RKME sketch; the rows themselves are not included) and a semantic spec.",
    )
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", type=Path, help="a fitted scikit-learn model saved with pickle/joblib")
    model.add_argument("--model-class-file", type=Path, help="a Python file defining the model class")
    p.add_argument("--class-name", help="the class in --model-class-file")
    p.add_argument("--data", type=Path, required=True,
                   help="training data: a table (.csv/.npy, numbers only); with --data-type Image an .npy of "
                   "images (N, H, W) or (N, C, H, W); with --data-type Text a .txt, one document per line")
    p.add_argument("--label-column", help="name or number of the label column in --data, left out of the spec "
                   "(default: a column named label, target, y or class, said aloud; `none`: no label column)")
    p.add_argument("--predict-method", default="predict", help="method that predicts (e.g. predict_proba)")
    p.add_argument("--column-description", action="append", metavar="COLUMN=TEXT",
                   help="table: what a column means, replacing its header name in Input.Description "
                   "(repeatable; COLUMN is a feature column number or header name)")
    _semantic_options(p, for_query=False)
    p.add_argument(
        "--output-dim",
        type=int,
        help="output dimension (classes, for classification); inferred from the label column when given",
    )
    p.add_argument("--requirement", action="append", default=[], help="a pip requirement (repeatable)")
    p.add_argument("-k", "--points", type=int, default=100, help="RKME points (default 100)")
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write the zip")
    _privacy_options(p)
    _unsafe_option(p)

    p = command("submit", "check a learnware zip and store it in the dock (prints its id)")
    p.add_argument("zip", type=Path)
    p.add_argument("--semantic", type=Path, help="semantic spec JSON (when the zip has none, or to replace it)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds the model may take in the checks")
    _unsafe_option(p)

    p = command("check", "run every submission check on a learnware zip without storing it (prints its id)")
    p.add_argument("zip", type=Path)
    p.add_argument("--semantic", type=Path, help="semantic spec JSON (when the zip has none, or to replace it)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds the model may take in the checks")
    _unsafe_option(p)

    p = command("update", "replace a learnware's semantic spec (a newer signed record its peers apply)")
    p.add_argument("id", help="learnware id or an unambiguous prefix")
    p.add_argument("--semantic", type=Path, required=True, help="the new semantic spec JSON")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds the model may take in the re-check")
    _unsafe_option(p)

    p = command("list", "list the learnwares in the dock")
    p.add_argument("--limit", type=int,
                   help="show one page of this many records (1..10000; 50 when only other paging options are given)")
    p.add_argument("--offset", type=int, help="skip this many records first")
    p.add_argument("--after", help="the page after this cursor (printed as next_after by the previous page)")
    p.add_argument("--sort", help="added (newest first, default), name, size (largest first) or id; '-' reverses")
    p.add_argument("--filter", action="append", metavar="KEY=VALUE",
                   help="data_type, task_type, library_type, license, scenario, publisher, name (substring) or "
                        "local (true/false); repeatable, all must match")

    p = command("show", "show one learnware: semantic spec, stat specs, size")
    p.add_argument("id", help="learnware id or an unambiguous prefix")

    p = command("rm", "remove a learnware (record and zip) from the dock")
    p.add_argument("id", help="learnware id or an unambiguous prefix")

    p = command("export", "copy a learnware's zip out of the dock")
    p.add_argument("id")
    p.add_argument("dest", type=Path, help="file or folder")

    p = command(
        "spec",
        "make a statistical spec of your data (writes stat.json)",
        "Fits an RKME: a small weighted point set whose kernel mean embedding matches your data's. "
        "Use it with `lwdock search --stat`; the data itself is never stored or sent.",
    )
    p.add_argument("kind", choices=["table", "image", "text"], help="data kind")
    p.add_argument("data", type=Path, help="table: .csv or .npy of numbers; image: .npy of (N, H, W) or "
                   "(N, C, H, W) images; text: UTF-8 .txt, one document per line (blank lines skipped)")
    p.add_argument("--label-column", help="table only: a column to leave out (default: a column named label, "
                   "target, y or class, said aloud; `none` keeps every column)")
    p.add_argument("-k", "--points", type=int, default=100, help="RKME points (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, default=Path("stat.json"), help="default: stat.json")
    _privacy_options(p)

    p = command(
        "node",
        "run this dock as a headless node (owns the dock; others talk to it)",
        "Runs until SIGINT/SIGTERM, serving the dock on a control socket in the home so that the "
        "CLI, scripts and the TUI use it while it runs. Logs to <home>/logs/node.log and stderr.",
    )
    p.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="MULTIADDR",
        help="libp2p listen address (repeatable), e.g. /ip4/127.0.0.1/tcp/4001",
    )
    p.add_argument(
        "--bootstrap",
        action="append",
        default=[],
        metavar="MULTIADDR",
        help="a peer to connect to at start (repeatable), with its /p2p/<peer id>",
    )
    p.add_argument("--offline", action="store_true", help="serve the dock locally without joining the network")
    p.add_argument(
        "--mdns",
        action="store_true",
        help="also find peers on the local network by mDNS (multicast DNS) and connect to them; "
        "or set `mdns = true` in <home>/config.toml",
    )
    p.add_argument(
        "--name",
        default=None,  # not "": argparse would pass a str default through type=
        type=_nickname,
        metavar="NICKNAME",
        help="a nickname peers see beside this node's peer id (at most 32 characters; a label, never trusted)",
    )
    _unsafe_option(p)

    command("peers", "list the peers the running node is connected to")

    p = command("sync", "catch up on records from peers now, with a progress bar (needs `lwdock node`)")
    p.add_argument("peer", nargs="?", help="one peer id (default: every connected peer)")
    p.add_argument("--no-wait", action="store_true", help="start the sync and return (progress: `lwdock status`)")

    p = command("fetch", "get a learnware's zip from the peers that have it (needs a running node)")
    p.add_argument("id", help="learnware id or an unambiguous prefix")

    command("status", "show the node: daemon or embedded, peer id, addresses, peers, records")

    p = command(
        "reuse",
        "run learnwares on your data file: one directly, or several through a reuser",
        "Starts the learnwares (sandboxed workers, as `load` does), predicts on your data file\n"
        "(a table, images or documents, as for `lwdock spec`) and scores the predictions when the\n"
        "file has labels (reusers that learn from labels are scored on a held-out half).\n"
        "Reusers: direct (one learnware), job_selector, vote_by_prob, vote_by_label, mean,\n"
        "ensemble_pruning, feature_augment.",
    )
    p.add_argument("ids", nargs="+", metavar="id", help="learnware ids or unambiguous prefixes")
    p.add_argument("--data", type=Path, required=True, help="your data file")
    p.add_argument("--label-column", help="the label column (tables, .csv documents): scores the predictions")
    p.add_argument("--reuser", help="default: direct for one id, job_selector for several")
    p.add_argument("-o", "--output", type=Path, help="write the predictions (and labels) as CSV here")
    _unsafe_option(p)

    p = command(
        "trust",
        "trust a peer or publisher: its records skip quotas and are never evicted",
        "Your trust list (like Syncthing's): a peer id names both a node and the key it publishes\n"
        "with. Records a trusted id publishes skip the per-publisher quota, are never evicted and\n"
        "may evict others when the catalogue is full; records it forwards skip the per-peer quota.\n"
        "It does not make a learnware's code safe to run: models always run sandboxed.",
    )
    p.add_argument("id", nargs="?", help="a peer id (12D3KooW...), e.g. a record's publisher from `lwdock show`")
    p.add_argument("--note", default="", help="a reminder of who this is")
    p.add_argument("--list", action="store_true", help="list the trusted ids")

    p = command("untrust", "remove a peer or publisher from your trust list")
    p.add_argument("id", help="a peer id on the trust list")

    p = command(
        "search",
        "find learnwares by text, filters and/or a statistical spec",
        "Ranks by how close each learnware's training distribution is to your spec (MMD), "
        "after filtering by the semantic options. A recommended mixture of several learnwares "
        "is shown when it fits clearly better than any single one. The similarity compares "
        "inputs only, never labels: it is not a prediction of accuracy. To measure that, give "
        "your labelled data: lwdock search --data FILE --label-column C --preview 5",
    )
    p.add_argument("text", nargs="?", default="", help="words to look for in names and descriptions")
    p.add_argument("--stat", type=Path, help="your stat.json (from `lwdock spec`), or your data file itself "
                   "(.csv/.npy table, .npy/.npz images, .txt documents), sketched on this machine")
    p.add_argument("--label-column", help="with --stat DATAFILE: the label column to leave out (default: a column "
                   "named label, target, y or class; `none` keeps every column)")
    p.add_argument("--reference-image", action="store_true",
                   help="with --stat IMAGES (.npy/.npz): sketch them in the reference's (Beimingwu's) image space, "
                   "to find image learnwares imported from Beimingwu (compared under its own kernel)")
    p.add_argument("--semantic", type=Path, help="a (partial) semantic spec JSON to filter by")
    p.add_argument("--column-description", action="append", metavar="COLUMN=TEXT",
                   help="with --stat DATAFILE (.csv with a header): what a column means, replacing its "
                   "header name; the names let learnwares with other columns be found (repeatable)")
    _semantic_options(p, for_query=True)
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--peers", action="store_true", help="also ask every connected peer (needs a running node)")
    g = p.add_argument_group("your data and a preview of real quality")
    g.add_argument("--data", type=Path, help="your data file: searched with (as --stat DATAFILE) and, with "
                   "--preview, the labelled rows the learnwares are measured on")
    g.add_argument("--preview", type=int, metavar="N", help="run the top N learnwares (and the recommended "
                   "mixture) on a sample of your labelled rows and show their measured accuracy (classification) "
                   "or RMSE (regression) beside their similarity; zips only on peers are fetched when a node "
                   "runs and they are small, else said `not local`")
    g.add_argument("--preview-rows", type=int, default=None, metavar="ROWS",
                   help="labelled rows to run on (default 200; a seeded sample, stratified by class)")
    g.add_argument("--preview-seed", type=int, default=0, help="seed of the preview's sample (default 0)")
    _privacy_options(p)
    return parser


def _privacy_options(p: argparse.ArgumentParser) -> None:
    """How a table or image spec made from a data file protects its rows (specs/privacy.py)."""
    p.add_argument("--privacy", choices=["private", "none"], default=None,
                   help="`private` (default for tables and images) publishes ~sqrt(rows) noised points, none "
                   "near a row; `none` (default for text) the plain spec, which can contain your rows themselves")
    p.add_argument("--allow-small", action="store_true",
                   help=f"make a private spec of fewer than {_MIN_PRIVATE_ROWS} rows (or images) anyway "
                   "(each point then stands for only a few rows)")


_MIN_PRIVATE_ROWS = 50  # specs.privacy.MIN_ROWS (not imported: the parser loads without numpy)


def _unsafe_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run learnware code WITHOUT the sandbox where this machine cannot give it "
                   "(it can then read your files, use the network and start processes); see `lwdock status`")


def _semantic_options(p: argparse.ArgumentParser, *, for_query: bool) -> None:
    g = p.add_argument_group("semantic spec" + (" filters" if for_query else ""))
    if not for_query:
        g.add_argument("--name", required=True)
        g.add_argument("--description", default="")
    g.add_argument("--data-type", default=None if for_query else "Table", help="Table, Image or Text")
    g.add_argument(
        "--task",
        default=None if for_query else "Classification",
        help="Classification, Regression, Feature Extraction, Segmentation, Object Detection, Others",
    )
    g.add_argument(
        "--library", default=None if for_query else "Scikit-learn", help="Scikit-learn, PyTorch, TensorFlow, Others"
    )
    g.add_argument("--scenario", action="append", default=[], help="a scenario tag (repeatable), e.g. Nature")
    g.add_argument("--license", default=None if for_query else "MIT", help="e.g. MIT, Apache-2.0, Others")


def _nickname(name: str) -> str:
    """`lwdock node --name`: what p2p/peer_info.py will send, or a usage error saying why not."""
    from p2p.peer_info import check_nickname

    try:
        return check_nickname(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from dock.cli.terminal_text import SafeFormatter

    for handler in logging.getLogger().handlers:  # log lines quote names and model errors
        if handler.formatter is not None and not isinstance(handler.formatter, SafeFormatter):
            handler.setFormatter(SafeFormatter(handler.formatter))
    if args.command is None:
        parser.print_help()
        return 0
    from dock.cli import commands as cli_commands
    if getattr(args, "unsafe_no_sandbox", False):
        from dock.runtime.worker import set_default_sandbox

        set_default_sandbox("off")
        out.stderr.print("[bold red]warning: --unsafe-no-sandbox: learnware code runs UNCONFINED in this "
                         "process: it can read your files and keys, use the network and start processes. "
                         "Only for learnwares whose publisher you trust.[/]", markup=True, soft_wrap=True)
    try:
        result = getattr(cli_commands, f"cmd_{args.command}")(args)
        if args.json and result is not None:
            print(json.dumps(result, indent=2, default=str))
            sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
    except BrokenPipeError:
        return _reader_went_away()
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except Exception as exc:
        return _report_error(exc, args)
    return 0


def _reader_went_away() -> int:
    """`lwdock list --json | head -2`: the reader closed the pipe; stop quietly with status 0, as
    `git log | head` does. stdout goes to devnull so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def _report_error(exc: Exception, args) -> int:
    """One line on stderr, whatever went wrong: a known error's first line (its details, e.g. a
    model's traceback, go to a log file, or to stderr with --debug) and its exit code; anything
    else is a bug: one line naming the log file that holds its traceback."""
    import traceback

    from dock.errors import InternalError

    kind = error_kind(exc)  # the dock's, specs' and p2p's errors: one line and their exit code
    if kind is not None:
        message = str(exc) or kind.name
        first, _, details = message.partition("\n")
        if args.debug:
            out.error(message)
        elif details.strip():
            out.error(f"{first} (details: {_write_log(message, args.home)}; or run with --debug)")
        else:
            out.error(first)
        return kind.exit_code
    text = "".join(traceback.format_exception(exc))
    if args.debug:
        sys.stderr.write(text)
    else:
        out.error(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; this is a bug "
                  f"in lwdock: the traceback is in {_write_log(text, args.home)} (please report it)")
    return InternalError.exit_code


def _write_log(text: str, home: str | None) -> str:
    """Append `text` to the CLI's error log (in the dock's logs folder, private to the user) and
    return its path; a temporary file when the home cannot be written."""
    import tempfile
    import time

    try:
        from dock.home import default_home

        folder = (Path(home).expanduser() if home else default_home()) / "logs"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / "cli-errors.log"
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} lwdock {' '.join(sys.argv[1:])}\n{text}\n")
        return str(path)
    except OSError:
        fd, name = tempfile.mkstemp(prefix="lwdock-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return name

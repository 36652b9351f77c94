"""The command line: ``python -m dynamorm_async migrate ...``, ``... create-tables ...`` and
``... sync-tables ...``.

Argument parsing, loading ``module:name`` references, progress display and exit codes; the
work itself is :func:`dynamorm_async.migrate`, :meth:`Session.ensure_table` and
:meth:`Session.sync_table`.

Exit codes: 0 success, 1 items failed (or the run failed), 2 usage errors, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import IO, TYPE_CHECKING, Any, cast

import anyio
import msgspec

from .._distribute.dask import dask_runner
from .._errors import DynamormError, TableError, ValidationError
from .._fanout import fan_out
from .._model.model import Model, model_info
from .._session import Session, SessionOptions, session_options_from_env
from .._write.table_diff import SyncResult, model_shape
from .report import MigrationError, MigrationProgress, MigrationReport
from .run import migrate
from .table_checkpoint import TableCheckpoint

if TYPE_CHECKING:
    _Commands = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_MAX_FAILURES_SHOWN = 20
_BAR_WIDTH = 24
_BAR_INTERVAL = 0.1
_LOG_INTERVAL = 2.0

_DESCRIPTION = "dynamorm-async command line: schema migrations, table creation and sync."

_CONNECTION_HELP = """\
connection: the flags win over the environment, as in Session.from_env(): DYNAMODB_ENDPOINT
(unset: AWS), AWS_REGION or AWS_DEFAULT_REGION, DYNAMORM_TABLE_PREFIX. The endpoint (or
"AWS <region>") and the tables go to stderr before anything is read or written. Credentials
come from the usual AWS chain (environment, profile, instance role); for DynamoDB Local any
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY values do.
"""

_MIGRATE_HELP = """\
Scan the table of the --source model, call FN on every item and write what it returns as the
--target model. FN is a function (sync or async) taking a source instance and returning a
target instance, or None to leave the item alone. Every result is validated against the target
model before it is written. When both models name the same table the items are upgraded in
place; otherwise the target table (with its indexes) is created when absent and filled.

MOD:NAME references are importable module paths and attribute names, e.g. shop.models:OrderV2;
the current directory is on the import path.
"""

_MIGRATE_EPILOG = """\
examples:
  python -m dynamorm_async migrate shop.upgrade:to_v2 \\
      --source shop.models:OrderV1 --target shop.models:OrderV2 --dry-run
  python -m dynamorm_async migrate shop.upgrade:to_v2 \\
      --source shop.models:OrderV1 --target shop.models:OrderV2 --checkpoint orders.ckpt.json
  python -m dynamorm_async migrate shop.upgrade:to_v2 \\
      --source shop.models:OrderV1 --target shop.models:OrderV2 \\
      --dask tcp://scheduler:8786 --segments 256 --checkpoint-table migration_state

Progress goes to stderr: a progress bar on a terminal, a log line every few seconds
otherwise. The summary line goes to stdout. With --checkpoint (or --checkpoint-table) an
interrupted run (Ctrl-C, a crash) resumes from the last page it wrote when started again with
the same arguments. With --dask every segment runs as a task on a Dask cluster (the dask
extra), whose workers must import MOD:FN and the models and reach DynamoDB themselves.

exit codes: 0 all items migrated (or skipped); 1 items failed, or the run failed;
            2 usage error; 130 interrupted.
""" + "\n" + _CONNECTION_HELP

_CREATE_HELP = """\
Create the table (with its indexes and TTL) of every Model with a table= found in module MOD,
unless it exists already. Models that share a table create it once.
"""

_SYNC_HELP = """\
Bring existing tables in line with their models: add the global indexes and the TTL a model
declares and its table lacks, one index at a time, each waited for until ACTIVE. REF is a
module (every Model with a table= in it) or MOD:Model. Nothing is dropped unless
--drop-extra-indexes is given. An index whose keys or projection changed is reported and left
as it is (rename it in the model: the new name is created, the old one dropped with
--drop-extra-indexes). A table whose key differs, or that lacks a local index, is an error:
create a table for the model and copy the items with migrate.
"""

_SYNC_EPILOG = """\
examples:
  python -m dynamorm_async sync-tables shop.models --dry-run
  python -m dynamorm_async sync-tables shop.models:Order --drop-extra-indexes

exit codes: 0 every table matches its model (with --dry-run: would match after the sync);
            1 differences are left, or a table could not be synced; 2 usage error.
""" + "\n" + _CONNECTION_HELP


class _UsageError(Exception):
    """Bad command line input found after argparse accepted it."""


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--endpoint-url", metavar="URL",
                       help="DynamoDB endpoint, e.g. http://localhost:8000 for DynamoDB Local "
                            "(default: $DYNAMODB_ENDPOINT; unset: AWS)")
    group.add_argument("--region", metavar="R",
                       help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION)")
    group.add_argument("--profile", metavar="NAME", help="AWS profile for credentials")
    group.add_argument("--table-prefix", metavar="P",
                       help="prefix prepended to every table name, as Session(table_prefix=) "
                            "(default: $DYNAMORM_TABLE_PREFIX)")


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for whole numbers of at least ``minimum``."""
    bound = "must not be negative" if minimum == 0 else f"must be at least {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{bound}, got {value}")
        return value

    return parse


_positive = _whole_number(1)
_non_negative = _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dynamorm_async``."""
    parser = argparse.ArgumentParser(
        prog="python -m dynamorm_async",
        description=_DESCRIPTION,
        epilog="Run 'python -m dynamorm_async COMMAND --help' for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = _add_command(
        commands,
        "migrate",
        "migrate items from one model to another through a transform function",
        _MIGRATE_HELP,
        _MIGRATE_EPILOG,
    )
    run.add_argument("transform", metavar="MOD:FN", help="the transform function")
    run.add_argument("--source", metavar="MOD:Model", required=True,
                     help="the model items are read as")
    run.add_argument("--target", metavar="MOD:Model", required=True,
                     help="the model items are written as")
    run.add_argument("--dry-run", action="store_true",
                     help="read and transform, write nothing; print sample before/after items")
    run.add_argument("--segments", type=_positive, default=4, metavar="N",
                     help="parallel scan segments (default: 4)")
    run.add_argument("--page-size", type=_positive, default=1000, metavar="N",
                     help="items read per scan call; also the checkpoint granularity "
                          "(default: 1000)")
    run.add_argument("--checkpoint", metavar="FILE",
                     help="JSON file recording progress; an interrupted run resumes from it")
    run.add_argument("--checkpoint-table", metavar="NAME",
                     help="record progress in DynamoDB table NAME instead (created on demand; "
                          "what --dask runs resume from)")
    run.add_argument("--dask", metavar="ADDRESS",
                     help="run the segments on the Dask scheduler at ADDRESS "
                          "(tcp://host:8786), or on local:N, a LocalCluster of N processes")
    run.add_argument("--on-error", choices=("collect", "skip", "stop"), default="collect",
                     help="failed items: collect keys and reasons (default), skip (count "
                          "only), or stop at the first")
    run.add_argument("--allow-key-change", action="store_true",
                     help="in place, let the transform change keys (old items are deleted "
                          "after the new ones are written)")
    run.add_argument("--samples", type=_non_negative, default=3, metavar="N",
                     help="before/after samples to print in a dry run (default: 3)")
    _add_connection_options(run)
    run.set_defaults(parser=run)

    create = _add_command(
        commands,
        "create-tables",
        "create the tables of every model in a module",
        _CREATE_HELP,
        _CONNECTION_HELP,
    )
    create.add_argument("module", metavar="MOD", help="importable module path, e.g. shop.models")
    _add_connection_options(create)
    create.set_defaults(parser=create)
    _add_sync_command(commands)
    return parser


def _add_command(
    commands: _Commands, name: str, summary: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A command whose help keeps the line breaks of its description and epilog."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_sync_command(commands: _Commands) -> None:
    sync = _add_command(
        commands,
        "sync-tables",
        "add the indexes and TTL models declare to their existing tables",
        _SYNC_HELP,
        _SYNC_EPILOG,
    )
    sync.add_argument("models", metavar="REF", nargs="+",
                      help="a module (all its models) or MOD:Model")
    sync.add_argument("--dry-run", action="store_true",
                      help="print what would change, change nothing")
    sync.add_argument("--drop-extra-indexes", action="store_true",
                      help="delete the global indexes the models do not declare")
    _add_connection_options(sync)
    sync.set_defaults(parser=sync)


# --- loading user code ---------------------------------------------------------------------


def _import(module_name: str) -> Any:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise _UsageError(f"cannot import module {module_name!r}: {exc}") from exc


def _load(reference: str, what: str) -> Any:
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise _UsageError(f"{what} must look like package.module:name, got {reference!r}")
    obj = _import(module_name)
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _UsageError(f"{what}: {module_name!r} has no attribute {attribute!r}") from None
    return obj


def _load_model(reference: str, what: str) -> type[Model]:
    obj = _load(reference, what)
    if not (isinstance(obj, type) and issubclass(obj, Model)):
        raise _UsageError(f"{what} {reference!r} is not a Model subclass")
    if model_info(obj).table is None:
        raise _UsageError(f"{what} {reference!r} has no table: declare it with table='name'")
    return obj


def _models_of(module_name: str) -> list[type[Model]]:
    """Every Model with a table found in a module (imported ones too), in definition order."""
    return [
        obj
        for obj in vars(_import(module_name)).values()
        if isinstance(obj, type)
        and issubclass(obj, Model)
        and obj is not Model
        and model_info(obj).table is not None
    ]


def _by_table(models: list[type[Model]]) -> dict[str, list[type[Model]]]:
    """Models grouped by table name, each once."""
    groups: dict[str, list[type[Model]]] = {}
    for model in models:
        group = groups.setdefault(model_info(model).require_table(), [])
        if model not in group:
            group.append(model)
    return groups


# Session keyword <- connection flag (argparse dest).
_CONNECTION_FLAGS = (
    ("endpoint_url", "endpoint_url"),
    ("region_name", "region"),
    ("profile_name", "profile"),
    ("table_prefix", "table_prefix"),
)


def _session(args: argparse.Namespace, models: Sequence[type[Model]], err: IO[str]) -> Session:
    """The command's Session, configured as ``Session.from_env`` with the flags given winning,
    after writing where it goes (endpoint or AWS region) and the tables it will touch."""
    flags = {
        keyword: getattr(args, dest)
        for keyword, dest in _CONNECTION_FLAGS
        if getattr(args, dest) is not None
    }
    options = session_options_from_env(cast(SessionOptions, flags))
    db = Session(**options)
    tables = ", ".join(dict.fromkeys(db.table_name(model) for model in models))
    err.write(f"target: {_where(options)}; tables: {tables}\n")
    err.flush()
    return db


def _where(options: SessionOptions) -> str:
    """The endpoint, or AWS and the region (or where botocore will look for one)."""
    endpoint = options.get("endpoint_url")
    if endpoint:
        return endpoint
    region = options.get("region_name")
    if region:
        return f"AWS {region}"
    profile = options.get("profile_name")
    return f"AWS, region of profile {profile!r}" if profile else "AWS, region from the AWS config"


# --- progress --------------------------------------------------------------------------------


class ProgressPrinter:
    """Renders MigrationProgress: a redrawn bar on a terminal, periodic log lines otherwise."""

    def __init__(self, stream: IO[str], *, tty: bool, total: int | None = None) -> None:
        self.stream = stream
        self.tty = tty
        self.total = total if total else None
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: MigrationProgress) -> None:
        now = time.monotonic()
        finished = progress.segments_done == progress.segments
        interval = _BAR_INTERVAL if self.tty else _LOG_INTERVAL
        if self._drawn and not finished and now - self._last < interval:
            return
        self._last = now
        self._drawn = True
        if self.tty:
            self.stream.write("\r\x1b[K" + self.bar(progress))
        else:
            self.stream.write(self.line(progress) + "\n")
        self.stream.flush()

    def bar(self, p: MigrationProgress) -> str:
        """One terminal line: bar, counts, rate."""
        if self.total:
            finished = p.segments_done == p.segments
            fraction = 1.0 if finished else min(p.completed / self.total, 1.0)
            done = f"{p.completed:,}/~{self.total:,} done"
        else:
            fraction = p.segments_done / p.segments
            done = f"{p.completed:,} done"
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        failed = f" · {p.failed:,} failed" if p.failed else ""
        return (
            f"[{bar}] {fraction:4.0%} {done} · {p.scanned:,} scanned · {p.written:,} written · "
            f"{p.skipped:,} skipped{failed} · {p.rate:,.0f} items/s · "
            f"segments {p.segments_done}/{p.segments}"
        )

    @staticmethod
    def line(p: MigrationProgress) -> str:
        """One log line."""
        return (
            f"progress: scanned={p.scanned} completed={p.completed} written={p.written} "
            f"skipped={p.skipped} failed={p.failed} rate={p.rate:.0f}/s "
            f"segments={p.segments_done}/{p.segments} elapsed={p.elapsed:.1f}s"
        )

    def close(self) -> None:
        """End the bar's line so later output starts on a fresh one."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _dump(obj: object) -> str:
    return msgspec.json.encode(obj).decode()


def _print_report(report: MigrationReport[Any, Any], out: IO[str]) -> None:
    if report.dry_run:
        for before, after in report.samples:
            out.write(f"sample before: {_dump(before)}\n")
            out.write(f"sample after:  {_dump(after)}\n")
    for key, reason in report.failed[:_MAX_FAILURES_SHOWN]:
        out.write(f"failed {_dump(key)}: {reason}\n")
    hidden = report.failed_count - min(len(report.failed), _MAX_FAILURES_SHOWN)
    if hidden > 0:
        out.write(f"... and {hidden} more failed items\n")
    out.write(report.summary() + "\n")


# --- commands ----------------------------------------------------------------------------------


async def _migrate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    transform = _load(args.transform, "MOD:FN")
    if not callable(transform):
        raise _UsageError(f"MOD:FN {args.transform!r} is not callable")
    source = _load_model(args.source, "--source")
    target = _load_model(args.target, "--target")
    if args.dry_run and (args.checkpoint or args.checkpoint_table):
        raise _UsageError("--dry-run writes nothing, not even a checkpoint: drop --checkpoint")
    if args.checkpoint and args.checkpoint_table:
        raise _UsageError("give --checkpoint FILE or --checkpoint-table NAME, not both")
    checkpoint = TableCheckpoint(args.checkpoint_table) if args.checkpoint_table else None
    tty = err.isatty()
    runner = dask_runner(args.dask) if args.dask else nullcontext(None)
    async with _session(args, [source, target], err) as db, runner as chosen:
        total = None
        if tty:
            description = await db.describe_table(source)
            total = int(description.get("ItemCount", 0)) or None
        printer = ProgressPrinter(err, tty=tty, total=total)
        try:
            report = await migrate(
                db,
                source=source,
                target=target,
                transform=transform,
                dry_run=args.dry_run,
                segments=args.segments,
                on_error=args.on_error,
                checkpoint=checkpoint or args.checkpoint,
                allow_key_change=args.allow_key_change,
                sample_size=args.samples,
                page_size=args.page_size,
                progress=printer,
                runner=chosen,
            )
        except MigrationError as exc:
            printer.close()
            _print_report(exc.report, out)
            err.write(f"error: {exc.message}\n")
            return EXIT_FAILED
        except BaseException:
            printer.close()
            raise
        printer.close()
    _print_report(report, out)
    return EXIT_OK if report.ok else EXIT_FAILED


async def _create_tables(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    models = _by_table(_models_of(args.module))
    if not models:
        raise _UsageError(f"module {args.module!r} has no Model with a table")
    async with _session(args, [group[0] for group in models.values()], err) as db:
        created: dict[str, bool] = {}

        async def ensure(job: tuple[str, list[type[Model]]]) -> None:
            table, group = job
            created[table] = await db.ensure_table(group[0])

        await fan_out(models.items(), ensure, workers=db.max_concurrency)
        for table in sorted(models):
            names = ", ".join(m.__name__ for m in models[table])
            state = "created" if created[table] else "exists"
            out.write(f"{state} {db.table_name(models[table][0])} ({names})\n")
    return EXIT_OK


def _sync_groups(references: list[str]) -> dict[str, list[type[Model]]]:
    """The models named (``MOD:Model``, or every model of ``MOD``) by table; the models of
    one table must agree on its shape, since the table can match only one."""
    models: list[type[Model]] = []
    for reference in references:
        if ":" in reference:
            models.append(_load_model(reference, "REF"))
        else:
            found = _models_of(reference)
            if not found:
                raise _UsageError(f"module {reference!r} has no Model with a table")
            models.extend(found)
    groups = _by_table(models)
    for table, (first, *others) in groups.items():
        for other in others:
            if model_shape(model_info(other)) != model_shape(model_info(first)):
                raise _UsageError(
                    f"{first.__name__} and {other.__name__} share table {table!r} but declare "
                    "different keys, indexes or TTL: name the one to sync as MOD:Model"
                )
    return groups


def _print_sync(result: SyncResult, models: list[type[Model]], out: IO[str]) -> None:
    label = f"{result.table} ({', '.join(m.__name__ for m in models)})"
    for action in result.actions:
        out.write(f"{label}: {action}\n")
    for difference in result.remaining.differences:
        out.write(f"{label}: left as is: {difference}\n")
    if not result.changed and result.remaining.in_sync:
        out.write(f"{label}: in sync\n")


async def _sync_tables(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    groups = _sync_groups(args.models)
    code = EXIT_OK
    async with _session(args, [groups[table][0] for table in sorted(groups)], err) as db:
        # One table after the other, in name order: each sync waits on DynamoDB anyway, and
        # its lines then appear as it finishes, in a stable order.
        for table in sorted(groups):
            try:
                result = await db.sync_table(
                    groups[table][0],
                    drop_extra_indexes=args.drop_extra_indexes,
                    dry_run=args.dry_run,
                )
            except TableError as exc:  # another key, a missing local index: the next table
                err.write(f"error: {exc}\n")
                code = EXIT_FAILED
                continue
            _print_sync(result, groups[table], out)
            if not result.remaining.in_sync:
                code = EXIT_FAILED
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, and argparse's own usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command: argparse.ArgumentParser = args.parser
    try:
        if args.command == "migrate":
            return anyio.run(_migrate, args, out, err)
        if args.command == "sync-tables":
            return anyio.run(_sync_tables, args, out, err)
        return anyio.run(_create_tables, args, out, err)
    except _UsageError as exc:
        return _usage(command, err, str(exc))
    except ValidationError as exc:
        if exc.operation is None:  # rejected before any request: the input was wrong
            return _usage(command, err, exc.message)
        err.write(f"error: {exc}\n")
        return EXIT_FAILED
    except DynamormError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        saved = getattr(args, "checkpoint", None) or getattr(args, "checkpoint_table", None)
        hint = f"; run the same command again to resume from {saved}" if saved else ""
        err.write(f"\ninterrupted{hint}\n")
        return EXIT_INTERRUPTED


def _usage(parser: argparse.ArgumentParser, err: IO[str], message: str) -> int:
    parser.print_usage(err)
    err.write(f"{parser.prog}: error: {message}\n")
    return EXIT_USAGE

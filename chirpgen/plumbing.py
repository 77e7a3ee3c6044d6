"""Plumbing both packages share: atomic writes, JSON files, user errors and the CLI's error handler.

Every file a command leaves behind is written to ``<name>.partial`` and renamed over its final
name, so a reader never sees half a file. Every error meant for the user is a :class:`UserError`
(a ``ValueError``): one line naming the bad value and the fix, which :func:`user_errors` prints
without a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

PARTIAL_SUFFIX = ".partial"


class UserError(ValueError):
    """An error phrased for the user: one line that names the bad value and the fix."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield ``<path>.partial`` to write into; rename it over ``path`` on success, remove it on failure."""
    path = Path(path)
    tmp = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def file_in_the_way(folder: str | Path) -> Path | None:
    """The file, if any, that stands where ``folder`` or one of its parents should be, so that the
    folder cannot be made."""
    folder = Path(folder)
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, data: Any, default: Callable[[Any], Any] = list) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (``default`` converts other objects)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=default) + "\n")


def read_json(path: str | Path, error: type[UserError] = UserError, fix: str = "make it again") -> Any:
    """The JSON in ``path``, or ``error`` naming the file, what is wrong and ``fix``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{str(path)!r} is missing; {fix}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{str(path)!r} is not readable JSON ({exc}); {fix}") from None


def one_line(text: object, limit: int = 200) -> str:
    """``text`` folded onto one line (white space runs become one space) and cut to ``limit`` characters."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."


def user_errors(on_interrupt: str = "Interrupted.") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a click command: a user error becomes one line and exit status 1, Ctrl-C exit 130.

    Args:
        on_interrupt: what to print after Ctrl-C: what was kept and how to go on.
    """
    import click

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            except OSError as exc:
                where = exc.filename or ""
                raise click.ClickException(f"{exc.strerror or exc}: {where}".rstrip(": ")) from None
            except KeyboardInterrupt:
                click.echo(f"\n{on_interrupt}", err=True)
                sys.exit(130)

        return wrapper

    return decorate


def cli_group(**attrs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``click.group(**attrs)`` whose usage errors (a bad option value, a missing argument, an
    unknown command) are one line, ``Error: <what is wrong>; see <command> --help``, exit status 2,
    instead of click's usage block."""
    import click

    @contextmanager
    def one_line_usage() -> Iterator[None]:
        try:
            yield
        except click.UsageError as exc:
            where = f"; see {exc.ctx.command_path} --help" if exc.ctx else ""
            error = click.ClickException(one_line(exc.format_message(), limit=400).rstrip(".") + where)
            error.exit_code = exc.exit_code
            raise error from None

    class OneLineUsageGroup(click.Group):
        def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
            with one_line_usage():
                return super().make_context(*args, **kwargs)

        def invoke(self, ctx: click.Context) -> Any:
            with one_line_usage():
                return super().invoke(ctx)

    return click.group(cls=OneLineUsageGroup, **attrs)


@contextmanager
def hold_lock(path: Path, busy: Callable[[str], UserError], shared: bool = False) -> Iterator[None]:
    """Hold an fcntl.flock on ``path`` (created if missing) for the block: exclusive, or ``shared``
    with other shared holders. The kernel releases it when the process ends, however it ends, so a
    killed holder leaves no stale lock. If another process holds it, raise ``busy(pid)``, the pid
    that holder wrote into the file ('?' if unknown)."""
    import fcntl

    fh = open(path, "a+")  # noqa: SIM115 - closed below; closing releases the lock
    try:
        try:
            fcntl.flock(fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            raise busy(fh.read().strip() or "?") from None
        fh.seek(0)  # a shared holder too: a refused writer then names one live holder
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()

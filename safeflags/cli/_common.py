"""What every command shares: exit codes and the one error handler."""
from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import ParamSpec

import click

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.source.errors import CompileError, ConfigError

EXIT_OK = 0
EXIT_FINDINGS = 1  # the thing checked is bad: compile errors, error findings
EXIT_USAGE = 2  # usage or internal error

P = ParamSpec("P")


def _suggestion(exc: SafeflagsError) -> str:
    """A did-you-mean for errors that name what exists (a store's channels)."""
    from safeflags.compile.suggest import did_you_mean
    from safeflags.store.errors import ChannelNotFound

    if isinstance(exc, ChannelNotFound):
        close = did_you_mean(exc.channel, exc.channels)
        return f"; did you mean {close!r}?" if close else ""
    return ""


def exits(fn: Callable[P, int]) -> Callable[P, None]:
    """Run a command body that returns an exit code; map errors to exit codes.

    Expected failures (SafeflagsError) print their message and exit 1 for
    located compile/config errors, 2 otherwise. A file the system refuses
    (no permission, no space, not found) is the environment, not a bug: one
    line, exit 2. Anything else is a bug: print what a bug report needs and
    exit 2.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            code = fn(*args, **kwargs)
        except (CompileError, ConfigError) as exc:
            for err in exc.errors:
                click.echo(err.format(), err=True)
            if isinstance(exc, CompileError) or len(exc.errors) > 1:
                n = len(exc.errors)
                click.echo(f"safeflags: {n} error{'s' if n != 1 else ''}", err=True)
            code = EXIT_FINDINGS
        except SafeflagsError as exc:
            click.echo(f"safeflags: error: {exc}{_suggestion(exc)}", err=True)
            code = EXIT_USAGE
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly with the status a
            # tool killed by SIGPIPE has (never 0: the run was cut short).
            # stdout goes to devnull so the interpreter's final flush cannot fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 128 + 13
        except KeyboardInterrupt:
            click.echo("safeflags: interrupted", err=True)
            code = 130
        except OSError as exc:
            message = _os_error(exc)
            if message is None:
                _internal_error()
            else:
                click.echo(f"safeflags: error: {message}", err=True)
            code = EXIT_USAGE
        except Exception:  # the last line of defence
            _internal_error()
            code = EXIT_USAGE
        sys.exit(code)

    return wrapper


def _os_error(exc: OSError) -> str | None:
    """One line for an error about a named file (or any missing permission); None when it names nothing."""
    names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
    if isinstance(exc, PermissionError):
        return f"permission denied: {names or exc}"
    if not names:
        return None
    return f"{exc.strerror or type(exc).__name__}: {names}"


def _internal_error() -> None:
    click.echo("safeflags: internal error, please report it with this trace:", err=True)
    traceback.print_exc(file=sys.stderr)

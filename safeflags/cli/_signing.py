"""The signing options of the commands that write a channel's pointer
(publish, pin, unpin, rollback, refresh-signature) and what they print."""
from __future__ import annotations

import re
from typing import Any

import click

from safeflags.store import Pointer

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"^(?:\d+[wdhms])+$")


class Duration(click.ParamType):
    """`90` (seconds), `45m`, `12h`, `7d`, `2w`, or a sum such as `1d12h`."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            text = str(value).strip().lower()
            if text.isdigit():
                seconds = float(text)
            elif _DURATION_RE.match(text):
                seconds = float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([wdhms])", text)))
            else:
                self.fail(f"{value!r} is not a duration: use e.g. 3600, 90m, 12h, 7d or 1d12h", param, ctx)
        if seconds <= 0:
            self.fail(f"{value!r}: a signature must expire in the future", param, ctx)
        return seconds


def sign_key_option(required: bool = False) -> Any:
    # No explicit default: click takes `default=None` for a value and then never enforces `required`.
    return click.option(
        "--sign-key", type=click.Path(exists=True, dir_okay=False), required=required,
        help="Ed25519 private key (PEM) to sign with; clients given the public key refuse unsigned, "
             "expired or older channel states.")


expires_in_option = click.option(
    "--expires-in", type=Duration(), default=None, metavar="DURATION",
    help="How long clients trust the signed channel state without a fresh signature "
         "(e.g. 12h, 7d) [default: 7d]; renew it with `safeflags refresh-signature`.")


def signer(sign_key: str | None, expires_in: float | None) -> Any:
    """The Signer for `--sign-key` (None without one)."""
    if sign_key is None:
        if expires_in is not None:
            raise click.UsageError("--expires-in needs --sign-key")
        return None
    from safeflags.delivery.signature import DEFAULT_EXPIRES_IN, Signer, load_private_key
    return Signer(load_private_key(sign_key), expires_in=DEFAULT_EXPIRES_IN if expires_in is None else expires_in)


def state_note(ptr: Pointer) -> str:
    """What to tell the operator about the signed state just written ("" when there is nothing to say)."""
    if ptr.state is not None:
        return f"channel state signed, expires {ptr.state.expires}"
    if ptr.signature:
        # Its bundle is signed, so its clients probably hold the key: they will refuse this state.
        return ("warning: the channel state is not signed (no --sign-key): clients with the public key "
                "refuse it and keep serving what they have")
    return ""


def echo_state(ptr: Pointer) -> None:
    note = state_note(ptr)
    if note:
        click.echo(note, err=note.startswith("warning"))

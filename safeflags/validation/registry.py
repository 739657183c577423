"""Finding and loading validators: the built-ins (a table in code), the
`safeflags.validators` entry-point group (third-party packages) and the
repository's own files named in `validation.local_validators`.

The built-ins never depend on package metadata: a vendored copy, a checkout
on PYTHONPATH or a frozen build has none, and a gate must not lose its checks
with it. Loading is sorted by code and strict, as in flake8: a validator that
cannot be imported, is not a Validator, has a malformed or duplicate code
(a third party cannot take a built-in's) or no docstring stops the run
(exit 2) with its name, and so does a run that would load no validator at
all. A CI gate that silently skipped a broken check would pass changes it
was meant to stop.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.validation import builtin as _builtin
from safeflags.validation.api import Validator
from safeflags.validation.builtin import BUILTIN

GROUP = "safeflags.validators"
CODE = re.compile(r"^[A-Z]{2,5}[0-9]{3}$")
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ValidatorLoadError(SafeflagsError):
    """A validator could not be loaded; the run stops."""

    def __init__(self, who: str, problem: str) -> None:
        self.who = who
        super().__init__(f"validator {who} failed to load: {problem}")


class NoValidators(SafeflagsError):
    """Nothing would be checked; the run stops rather than pass everything."""


def _check_class(who: str, obj: object) -> type[Validator]:
    if not (inspect.isclass(obj) and issubclass(obj, Validator)):
        raise ValidatorLoadError(who, f"{obj!r} is not a subclass of safeflags.validation.Validator")
    if not CODE.match(obj.code or ""):
        raise ValidatorLoadError(who, f"code {obj.code!r} must be 2-5 capital letters and 3 digits, e.g. SF301")
    if not NAME.match(obj.name or ""):
        raise ValidatorLoadError(who, f"name {obj.name!r} must be lower-case words joined by '-'")
    if not (obj.__doc__ or "").strip():
        raise ValidatorLoadError(who, "it has no docstring: the docstring is its documentation")
    return obj


def _from_entry_point(ep: EntryPoint) -> type[Validator]:
    who = f"{ep.name} ({ep.value})"
    try:
        obj = ep.load()
    except Exception as exc:
        raise ValidatorLoadError(who, f"{type(exc).__name__}: {exc}") from exc
    cls = _check_class(who, obj)
    if cls.code != ep.name:
        raise ValidatorLoadError(who, f"the entry point is named {ep.name} but the class's code is {cls.code}")
    return cls


def _from_file(root: Path, rel: str) -> list[type[Validator]]:
    """Import a repository file under a name unique to its root, so the base
    revision's copy never collides with the head's in sys.modules."""
    who = rel
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()) or path.suffix != ".py":
        raise ValidatorLoadError(who, "a local validator is a .py file inside the repository")
    if not path.is_file():
        raise ValidatorLoadError(who, "no such file in the repository")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"safeflags_local_{digest}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ValidatorLoadError(who, f"{type(exc).__name__}: {exc}") from exc
    found = [obj for _, obj in sorted(vars(module).items())
             if inspect.isclass(obj) and issubclass(obj, Validator) and obj.__module__ == name and obj.code]
    if not found:
        raise ValidatorLoadError(who, "it defines no Validator subclass with a code")
    return [_check_class(f"{c.code} ({rel}:{c.__name__})", c) for c in found]


def _builtin_entry(ep: EntryPoint) -> bool:
    """An entry point into the built-in package: the metadata of an install
    made when the built-ins were registered that way. They load from the
    table, never twice (and a stale entry naming a moved class is no error)."""
    return ep.module == _builtin.__name__ or ep.module.startswith(_builtin.__name__ + ".")


def load(root: Path, local: Iterable[str] = (), *, group: str = GROUP) -> list[type[Validator]]:
    """Every validator class, sorted by code; raises ValidatorLoadError, or
    NoValidators when there is none."""
    classes = [(f"{c.code} (built-in {c.__module__}:{c.__qualname__})", c) for c in BUILTIN]
    for who, cls in classes:
        _check_class(who, cls)
    # An editable install can list the same entry point twice (egg-info and dist-info).
    unique = {(ep.name, ep.value): ep for ep in entry_points(group=group) if not _builtin_entry(ep)}
    for _, ep in sorted(unique.items()):
        classes.append((f"{ep.name} ({ep.value})", _from_entry_point(ep)))
    for rel in sorted(local):
        classes.extend((f"{c.code} ({rel})", c) for c in _from_file(root, rel))
    seen: dict[str, str] = {}
    for who, cls in classes:
        if cls.code in seen:
            raise ValidatorLoadError(who, f"code {cls.code} is already taken by {seen[cls.code]}")
        seen[cls.code] = who
    if not classes:
        raise NoValidators(f"no validator loaded (no built-in, no {group!r} entry point, no local validator): "
                           "a gate that checks nothing would pass every change")
    return sorted((c for _, c in classes), key=lambda c: c.code)

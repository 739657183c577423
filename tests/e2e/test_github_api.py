"""The GitHub stand-in speaks GitHub's published REST API description.

The description is the `@octokit/openapi` npm package, pinned and installed
by scripts/setup.sh into .openapi-cache. Every request the client makes
must be an operation of the description (method, path template, query
parameters it declares), and every body the stand-in answers must validate
against the operation's response schema for its status (or the
description's shared response for statuses GitHub answers on every
operation: 401, 403, 404), with OpenAPI 3.0's `nullable` translated, formats
`uri` and `date-time` checked, and objects closed to properties the
description does not declare, so the stand-in cannot invent a field the
client would come to rely on.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker, ValidationError

from safeflags.ops.propose import open_pull
from safeflags.validation.approvals import PullRequest
from safeflags.validation.github import GitHub
from tests.helpers.github_api import Exchange, GitHubApi

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / ".openapi-cache" / "node_modules" / "@octokit" / "openapi"
DESCRIPTION = PACKAGE / "generated" / "api.github.com.json"
# Statuses GitHub may answer on any operation, and the description's shared response for each.
SHARED = {401: "requires_authentication", 403: "forbidden", 404: "not_found", 422: "validation_failed"}
# Keywords of OpenAPI's schema object that JSON Schema draft 4 does not have (or means otherwise).
OPENAPI_ONLY = {"nullable", "example", "examples", "discriminator", "xml", "externalDocs", "deprecated",
                "readOnly", "writeOnly"}


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    if not DESCRIPTION.is_file():
        message = f"GitHub's OpenAPI description is not installed at {DESCRIPTION}: run scripts/setup.sh (needs npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    pinned = re.search(r"^OPENAPI_VERSION=(\S+)$", (ROOT / "scripts" / "setup.sh").read_text(), re.M)
    assert pinned is not None
    installed = json.loads((PACKAGE / "package.json").read_text())["version"]
    assert installed == pinned.group(1), "the installed description is not the pinned one: run scripts/setup.sh"
    data: dict[str, Any] = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    return data


def to_json_schema(node: Any, closed: bool = True) -> Any:
    """An OpenAPI 3.0 schema object as JSON Schema draft 4: `nullable` as a
    union with null; objects that list their properties closed, except the
    members of an allOf (each sees only part of the object)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(s) for name, s in value.items()}
        elif key in ("items", "not"):
            out[key] = to_json_schema(value)
        elif key == "additionalProperties":
            out[key] = to_json_schema(value) if isinstance(value, dict) else value
        elif key in ("anyOf", "oneOf"):
            out[key] = [to_json_schema(s) for s in value]
        elif key == "allOf":
            out[key] = [to_json_schema(s, closed=False) for s in value]
        else:
            out[key] = value
    if closed and "properties" in out and "additionalProperties" not in out and "allOf" not in node:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or dt.datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    return parts is None or bool(parts.scheme and (parts.netloc or parts.path))


def _error_order(error: ValidationError) -> tuple[str, str]:
    # Not str(error): that pretty-prints the whole schema, every component of the description included.
    return "/".join(map(str, error.absolute_path)), error.message


class Description:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.components = {"schemas": {n: to_json_schema(s) for n, s in data["components"]["schemas"].items()}}
        self.templates = []
        for template in data["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            self.templates.append((template.count("{"), template, re.compile(f"^{pattern}$")))
        self.templates.sort()

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The operation a request is: literal segments win over parameters, as GitHub routes."""
        for _, template, pattern in self.templates:
            if pattern.match(path) and method.lower() in self.data["paths"][template]:
                return template, self.data["paths"][template][method.lower()]
        raise AssertionError(f"{method} {path} is no operation of GitHub's REST API description")

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.data
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def query_parameters(self, op: dict[str, Any]) -> set[str]:
        return {p["name"] for p in map(self.resolve, op.get("parameters", [])) if p["in"] == "query"}

    def response(self, op: dict[str, Any], status: int) -> dict[str, Any]:
        found = op["responses"].get(str(status))
        if found is None:
            assert status in SHARED, f"HTTP {status} is not an answer of {op['operationId']}"
            found = self.data["components"]["responses"][SHARED[status]]
        return self.resolve(found)

    def check(self, ex: Exchange) -> None:
        _, op = self.operation(ex.method, ex.path)
        where = f"{ex.method} {ex.path} ({op['operationId']}) HTTP {ex.status}"
        declared = self.query_parameters(op)
        assert set(ex.query) <= declared, f"{where}: query parameters {set(ex.query) - declared} are not declared"
        if ex.request is not None:
            sent = self.resolve(op["requestBody"])["content"]["application/json"]["schema"]
            wrong = sorted(Draft4Validator({**to_json_schema(sent), "components": self.components},
                                           format_checker=FORMATS).iter_errors(ex.request), key=_error_order)
            assert not wrong, f"{where}: the request body: " + "; ".join(e.message[:300] for e in wrong[:5])
        response = self.response(op, ex.status)
        assert set(ex.headers) <= set(response.get("headers", {})), f"{where}: undeclared headers {ex.headers}"
        content = response.get("content", {}).get("application/json")
        if content is None:
            return  # a status the description gives no body (the membership's 404): anything goes, nothing read
        schema = {**to_json_schema(content["schema"]), "components": self.components}
        errors = sorted(Draft4Validator(schema, format_checker=FORMATS).iter_errors(ex.body), key=_error_order)
        assert not errors, f"{where}: " + "\n".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:5])


@pytest.fixture(scope="module")
def spec(description: dict[str, Any]) -> Description:
    return Description(description)


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi() as server:
        yield server


def _busy_pull(api: GitHubApi) -> None:
    api.add_pull(7, author="dev", head_sha="1" * 40, labels=["safeflags/skip-stage"])
    api.request_review(7, "lead")
    api.review(7, "dev", "COMMENTED")
    api.review(7, "lead", "APPROVED", commit="0" * 40)
    api.push(7, "2" * 40)
    api.review(7, "lead", "APPROVED")
    api.review(7, "cy", "CHANGES_REQUESTED")
    api.dismiss(7, "cy")
    api.label(7, "safeflags/approved-blast-radius", actor="lead")
    api.unlabel(7, "safeflags/approved-blast-radius", actor="dev")
    api.label(7, "safeflags/approved-blast-radius", actor="lead")
    api.request_review(7, "bo")
    api.team("acme/flag-reviewers", members=["lead"], pending=["newbie"])
    api.team("acme/secret-team", members=["lead"], forbidden=True)


def test_every_request_and_answer_follows_the_description(api: GitHubApi, spec: Description) -> None:
    _busy_pull(api)
    client = GitHub(api.token, api.url, per_page=2)
    pr = client.read(PullRequest(number=7, author="dev", repository=api.repository))
    assert [client.team_member("acme/flag-reviewers", who) for who in ("lead", "bo", "newbie")] == [True, False, False]
    assert client.team_member("acme/secret-team", "lead") is None
    assert pr.head_sha == "2" * 40 and len(pr.reviews) == 4 and pr.label_events is not None
    opened = open_pull(api.url, api.token, api.repository, title="ramp x: stage 1 → 2", head="safeflags/ramp-x-2",
                       base="main", body="newly exposes ~5%")
    assert opened.endswith(f"/pull/{max(api.pulls)}")
    # What the client does not do, answered too: no token, a pull request that is not there.
    for path, token in (("/repos/acme/flags/pulls/7", None), ("/repos/acme/flags/pulls/99", api.token)):
        req = urllib.request.Request(api.url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(req, timeout=10)
    statuses = {ex.status for ex in api.log}
    assert statuses == {200, 201, 401, 403, 404}
    assert any("Link" in ex.headers for ex in api.log), "pagination was not exercised"
    for ex in api.log:
        spec.check(ex)


def test_the_check_is_not_vacuous(api: GitHubApi, spec: Description) -> None:
    """A body missing a required field, with a wrong type or an undeclared
    property fails: the check above would catch a stand-in that drifts."""
    _busy_pull(api)
    status, headers, body = api.answer("GET", "/repos/acme/flags/pulls/7", {}, f"Bearer {api.token}")
    good = Exchange("GET", "/repos/acme/flags/pulls/7", {}, status, headers, body)
    spec.check(good)
    broken = [
        {k: v for k, v in body.items() if k != "head"},
        {**body, "number": "7"},
        {**body, "requested_by_author": True},
        {**body, "user": {**body["user"], "login": None}},
        {**body, "created_at": "yesterday"},
    ]
    for bad in broken:
        with pytest.raises(AssertionError):
            spec.check(Exchange(good.method, good.path, {}, status, headers, bad))
    pulls, sent = "/repos/acme/flags/pulls", {"title": "t", "head": "h", "base": "main"}
    status, headers, body = api.answer("POST", pulls, {}, f"Bearer {api.token}", sent)
    spec.check(Exchange("POST", pulls, {}, status, headers, body, sent))
    with pytest.raises(AssertionError, match="request body"):
        spec.check(Exchange("POST", pulls, {}, status, headers, body, {"title": 1, "base": "main"}))
    with pytest.raises(AssertionError, match="no operation"):
        spec.check(Exchange("GET", "/repos/acme/flags/pulls/7/approvals", {}, 200, {}, []))
    with pytest.raises(AssertionError, match="not declared"):
        spec.check(Exchange("GET", "/repos/acme/flags/pulls/7/reviews", {"state": ["APPROVED"]}, 200, {}, []))


def test_nullable_is_translated_strictly() -> None:
    schema = to_json_schema({"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string", "nullable": True}, "b": {"type": "integer", "example": 3}}})
    validator = Draft4Validator(schema)
    assert validator.is_valid({"a": None}) and validator.is_valid({"a": "x", "b": 1})
    assert not validator.is_valid({"b": 1}) and not validator.is_valid({"a": 1}) and not validator.is_valid(
        {"a": "x", "c": 1})

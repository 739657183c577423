"""OFREP end to end: `safeflags serve --ofrep-channel` over a file:// store of
the compiled example repository, asked by the real OFREP providers (Python's
`openfeature-provider-ofrep` through the openfeature-sdk API, and Node's
`@openfeature/ofrep-provider` through `@openfeature/server-sdk`), each of
which must get what the in-process SDK serves with the same static context."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from safeflags.sdk.evaluator import TYPE_NAMES, Evaluator
from safeflags.serve import FlagServer
from safeflags.store import open_store
from tests.helpers.repo import ROOT, FlagRepo
from tests.helpers.waiting import wait_until

CHANNEL = "prod"
TOKEN = "ofrep-test-token"
BULK = "/ofrep/v1/evaluate/flags"
NODE_MODULES = ROOT / ".node-cache" / "node_modules"
JS_SCRIPT = Path(__file__).parent / "ofrep_js" / "evaluate.cjs"

# OFREP contexts: the targeting key, static dimensions (which pin a specialised
# snapshot) and runtime ones, chosen to reach every kind of outcome of the example.
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"targetingKey": "u-1"},
    {"targetingKey": "u-2", "workspace_id": "ws-1234", "region": "us-gov-west-1", "environment": "prod"},
    {"targetingKey": "u-3", "workspace_id": "ws-9", "region": "eu-west-1", "environment": "staging",
     "org_tier": "enterprise", "seats": 500, "country": "DE", "client": "ios", "app_version": "5.2.0"},
    {"targetingKey": "u-4", "cloud": "gcp", "region": "us-central1", "environment": "dev", "arch": "arm64",
     "service": "search", "service_version": "3.1.0", "is_internal": True, "beta_opt_in": True},
    {"targetingKey": "u-5", "cloud": "aws", "arch": "x86_64", "service": "billing", "service_version": "2.14.1",
     "cart_total": 250.5, "account_created_at": "2019-01-01T00:00:00Z", "email": "a@example.com"},
    {"user_id": "explicit-user", "targetingKey": "ignored", "workspace_id": "ws-42", "client": "android",
     "app_version": "4.0.0", "org_tier": "free"},
    *({"targetingKey": f"user-{i}", "workspace_id": f"ws-{i}", "environment": "prod"} for i in range(12)),
]

DEFAULTS: dict[str, Any] = {"bool": False, "string": "", "int": -1, "float": -1.5, "json": {"code": "default"}}


class Served:
    """`safeflags serve` with OFREP on CHANNEL, over a file:// store."""

    def __init__(self, root: Path, data: bytes, *, token: str | None = None):
        self.store_url = f"file://{root}"
        self.store = open_store(self.store_url, create=True)
        self.token = token
        self.digest = self.publish(data, wait=False)
        self.server = FlagServer(open_store(self.store_url), watch_interval=0.05, heartbeat=0.5, token=token,
                                 ofrep_channel=CHANNEL,
                                 ofrep_options={"targeting_key": "user_id", "max_contexts": 64}).start()
        self.url = self.server.url
        wait_until(lambda: self.served_digest() == self.digest, what="the first bundle over OFREP")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def served_digest(self) -> str | None:
        r = httpx.post(self.url + BULK, json={"context": {}}, headers=self.headers, timeout=10)
        return r.json()["metadata"]["digest"] if r.status_code == 200 else None

    def publish(self, data: bytes, *, wait: bool = True) -> str:
        self.store.publish(data, CHANNEL)
        digest = "sha256-" + hashlib.sha256(data).hexdigest()
        if wait:
            wait_until(lambda: self.served_digest() == digest, what="the new bundle over OFREP")
        return digest

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlagRepo, bytes]:
    repo = FlagRepo(Path(tmp_path_factory.mktemp("repo")), with_examples=True)
    return repo, repo.compile().data


@pytest.fixture
def served(tmp_path: Path, example: tuple[FlagRepo, bytes]) -> Iterator[Served]:
    s = Served(tmp_path / "store", example[1])
    try:
        yield s
    finally:
        s.close()


def in_process(data: bytes, key: str, context: Mapping[str, Any]) -> Any:
    """What a Python service with the same static context serves: its static
    dimensions pinned, the targeting key as `user_id` (an attribute wins)."""
    evaluator = Evaluator.from_bytes(data)
    static_names = {d.name for d in evaluator.snapshot.bundle.dimensions if d.static}
    ctx = {k: v for k, v in context.items() if k != "targetingKey"}
    if "targetingKey" in context:
        ctx.setdefault("user_id", context["targetingKey"])
    static = {k: v for k, v in ctx.items() if k in static_names}
    return Evaluator.from_bytes(data, static=static).details(key, DEFAULTS[flag_type(data, key)], ctx)


def flag_type(data: bytes, key: str) -> str:
    return TYPE_NAMES[Evaluator.from_bytes(data).snapshot.flags[key].type]


def every_case(data: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    flags = Evaluator.from_bytes(data).snapshot.flags
    cases = [(key, TYPE_NAMES[flags[key].type], ctx) for key in sorted(flags) for ctx in CONTEXTS]
    assert {t for _, t, _ in cases} == set(DEFAULTS), "the example must have a flag of every type"
    return cases


def python_client(served: Served, *, headers: Mapping[str, str] | None = None) -> Any:
    domain = f"ofrep-{uuid.uuid4().hex}"
    given = dict(served.headers if headers is None else headers)
    api.set_provider(OFREPProvider(served.url, headers_factory=lambda: given), domain)
    return api.get_client(domain)


PY_GETTERS = {"bool": "get_boolean_details", "string": "get_string_details", "int": "get_integer_details",
              "float": "get_float_details", "json": "get_object_details"}


def test_the_python_provider_gets_what_the_sdk_serves_for_every_flag(served: Served,
                                                                     example: tuple[FlagRepo, bytes]) -> None:
    data = example[1]
    client = python_client(served)
    seen_reasons = set()
    for key, kind, context in every_case(data):
        attrs = {k: v for k, v in context.items() if k != "targetingKey"}
        ctx = EvaluationContext(context.get("targetingKey"), attrs)
        got = getattr(client, PY_GETTERS[kind])(key, DEFAULTS[kind], ctx)
        want = in_process(data, key, context)
        assert (got.value, got.variant, str(got.reason), got.error_code) == \
            (want.value, want.variant, want.reason.value, None), (key, context)
        seen_reasons.add(want.reason.value)
    assert seen_reasons >= {"STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED"}


def test_the_python_provider_sees_flag_not_found_and_type_mismatch(served: Served) -> None:
    client = python_client(served)
    missing = client.get_boolean_details("no.such_flag", True, EvaluationContext("u-1"))
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    mismatch = client.get_integer_details("checkout.cta_copy", 7, EvaluationContext("u-1"))
    assert (mismatch.value, mismatch.error_code) == (7, ErrorCode.TYPE_MISMATCH)
    widened = client.get_float_details("billing.invoice_email_batch_size", 1.5, EvaluationContext("u-1"))
    assert (widened.value, widened.error_code) == (1.5, ErrorCode.TYPE_MISMATCH)


def test_static_dimensions_in_the_global_context_pin_as_in_process(served: Served,
                                                                   example: tuple[FlagRepo, bytes]) -> None:
    static = {"environment": "prod", "region": "us-gov-west-1"}
    api.set_evaluation_context(EvaluationContext(attributes=static))
    try:
        client = python_client(served)
        for key in ("billing.tax_engine_v2", "checkout.disable_recommendations", "platform.api_rate_limit_rps"):
            kind = flag_type(example[1], key)
            got = getattr(client, PY_GETTERS[kind])(key, DEFAULTS[kind], EvaluationContext("u-9"))
            want = in_process(example[1], key, {"targetingKey": "u-9", **static})
            assert (got.value, str(got.reason)) == (want.value, want.reason.value), key
    finally:
        api.clear_evaluation_context()


def node_available() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_MODULES / "@openfeature" / "ofrep-provider").is_dir():
        return "the JS OFREP provider is not installed in .node-cache/ (scripts/setup.sh installs it)"
    return None


def run_node(served: Served, cases: list[dict[str, Any]], headers: Mapping[str, str] | None = None) -> Any:
    request = {"baseUrl": served.url, "headers": dict(served.headers if headers is None else headers),
               "cases": cases}
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    done = subprocess.run(["node", str(JS_SCRIPT)], input=json.dumps(request).encode(), capture_output=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


JS_TYPES = {"bool": "boolean", "string": "string", "int": "number", "float": "number", "json": "object"}


@pytest.mark.skipif(node_available() is not None, reason=str(node_available()))
def test_the_node_provider_gets_what_the_sdk_serves_for_every_flag(served: Served,
                                                                   example: tuple[FlagRepo, bytes]) -> None:
    data = example[1]
    cases = every_case(data)
    got = run_node(served, [{"flag": key, "type": JS_TYPES[kind], "default": DEFAULTS[kind], "context": ctx}
                            for key, kind, ctx in cases])
    assert len(got) == len(cases)
    for (key, _kind, context), answer in zip(cases, got, strict=True):
        want = in_process(data, key, context)
        assert answer == {"value": want.value, "variant": want.variant, "reason": want.reason.value,
                          "errorCode": None}, (key, context)


@pytest.mark.skipif(node_available() is not None, reason=str(node_available()))
def test_the_node_provider_sees_flag_not_found(served: Served) -> None:
    [got] = run_node(served, [{"flag": "no.such_flag", "type": "boolean", "default": True, "context": {}}])
    assert got == {"value": True, "variant": None, "reason": "ERROR", "errorCode": "FLAG_NOT_FOUND"}


def test_a_publish_changes_the_bulk_etag_and_the_values(served: Served, example: tuple[FlagRepo, bytes]) -> None:
    repo = example[0]
    context = {"context": {"targetingKey": "u-1", "environment": "prod"}}
    first = httpx.post(served.url + BULK, json=context, timeout=10)
    etag = first.headers["ETag"]
    assert httpx.post(served.url + BULK, json=context, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    repo.write("billing.invoice_email_batch_size", """
    sf.int {
      owner: 'team-billing',
      description: 'Invoices per e-mail batch.',
      default: 777,
    }
    """)
    digest = served.publish(repo.compile().data)
    moved = httpx.post(served.url + BULK, json=context, headers={"If-None-Match": etag}, timeout=10)
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    values = {f["key"]: f["value"] for f in moved.json()["flags"]}
    assert values["billing.invoice_email_batch_size"] == 777
    assert moved.json()["metadata"]["digest"] == digest
    client = python_client(served)
    assert client.get_integer_value("billing.invoice_email_batch_size", 0, EvaluationContext("u-1")) == 777


def test_with_a_token_every_ofrep_route_needs_it_and_the_providers_send_it(
        tmp_path: Path, example: tuple[FlagRepo, bytes]) -> None:
    s = Served(tmp_path / "store", example[1], token=TOKEN)
    try:
        for path in (BULK, BULK + "/checkout.cta_copy"):
            assert httpx.post(s.url + path, json={"context": {}}, timeout=10).status_code == 401
        with httpx.stream("GET", s.url + "/ofrep/v1/events", timeout=10) as r:
            assert r.status_code == 401
        assert python_client(s).get_string_value("checkout.cta_copy", "x", EvaluationContext("u-1")) != "x"
        refused = python_client(s, headers={}).get_string_details("checkout.cta_copy", "x", EvaluationContext("u-1"))
        assert (refused.value, refused.error_code) == ("x", ErrorCode.GENERAL)
        if node_available() is None:
            [ok, no] = [run_node(s, [{"flag": "checkout.cta_copy", "type": "string", "default": "x",
                                      "context": {"targetingKey": "u-1"}}], headers=h)[0]
                        for h in (s.headers, {})]
            assert ok["value"] != "x" and ok["errorCode"] is None
            assert (no["value"], no["errorCode"]) == ("x", "GENERAL")
    finally:
        s.close()


def test_the_event_stream_announces_a_publish_and_ends_when_the_server_closes(
        tmp_path: Path, example: tuple[FlagRepo, bytes]) -> None:
    repo, data = example
    s = Served(tmp_path / "store", data)
    lines: list[str] = []
    connected = threading.Event()

    def listen() -> None:
        # The end of the stream may come as a cut connection (the server's grace period
        # running out): what matters here is that it ends.
        with contextlib.suppress(httpx.RemoteProtocolError), \
                httpx.stream("GET", s.url + "/ofrep/v1/events", timeout=30) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                connected.set()

    listener = threading.Thread(target=listen, daemon=True)
    try:
        listener.start()
        assert connected.wait(10)
        repo.write("billing.ofrep_events_probe", "sf.bool { owner: 'team-billing', description: 'x', default: true }\n")
        digest = s.publish(repo.compile().data)
        wait_until(lambda: any(line.startswith("data:") for line in lines), what="the refetch event")
        event = json.loads(next(line for line in lines if line.startswith("data:")).removeprefix("data:"))
        assert (event["type"], event["etag"]) == ("refetchEvaluation", digest)
    finally:
        s.close()
    listener.join(20)
    assert not listener.is_alive(), "the stream outlived the server"

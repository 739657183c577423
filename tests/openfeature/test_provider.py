"""SafeflagsProvider through the real OpenFeature client."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus

from safeflags.delivery import Client
from safeflags.openfeature import SafeflagsProvider
from tests.helpers.builder import Builder, Json
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until


def targeted() -> bytes:
    """`t.beta` is true for user u-1 and for pro plans, off otherwise."""
    b = Builder()
    flags = [
        b.flag("t.beta", "bool", [False, True], variants=["off", "on"],
               rules=[b.rule(b.in_("user_id", "u-1"), 1), b.rule(b.in_("plan", "pro"), 1)]),
        b.flag("t.name", "string", ["hello"]),
        b.flag("t.limit", "int", [10]),
        b.flag("t.ratio", "float", [0.25]),
        b.flag("t.cfg", "json", [Json({"a": [1, 2]})]),
        b.flag("t.off", "bool", [True], disabled=True),
    ]
    return b.data(flags)


@pytest.fixture
def of_client(pub: Publisher) -> Iterator[object]:
    pub.publish(data=targeted())
    provider = SafeflagsProvider(store=pub.url, channel="prod", poll_interval=0.1, targeting_key="user_id")
    api.set_provider_and_wait(provider)
    try:
        yield api.get_client()
    finally:
        api.shutdown()


def test_every_type_and_reason(of_client) -> None:  # type: ignore[no-untyped-def]
    c = of_client
    d = c.get_boolean_details("t.beta", False, EvaluationContext(targeting_key="u-1"))
    assert (d.value, d.reason, d.variant) == (True, Reason.TARGETING_MATCH, "on")
    d = c.get_boolean_details("t.beta", True, EvaluationContext("u-2", {"plan": "free"}))
    assert (d.value, d.reason) == (False, Reason.DEFAULT)
    assert c.get_string_value("t.name", "") == "hello"
    assert c.get_integer_value("t.limit", 0) == 10
    assert c.get_float_value("t.ratio", 0.0) == 0.25
    assert c.get_object_value("t.cfg", {}) == {"a": [1, 2]}
    d = c.get_boolean_details("t.off", False)
    assert (d.value, d.reason) == (True, Reason.DISABLED)
    assert d.flag_metadata["bundle_digest"].startswith("sha256-")


def test_errors_map_to_openfeature_codes(of_client) -> None:  # type: ignore[no-untyped-def]
    d = of_client.get_boolean_details("t.missing", True)
    assert (d.value, d.reason, d.error_code) == (True, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    d = of_client.get_float_details("t.limit", 1.5)  # an int flag is not a float flag
    assert (d.value, d.error_code) == (1.5, ErrorCode.TYPE_MISMATCH)


def test_not_ready_without_any_bundle() -> None:
    from tests.helpers.s3server import free_ports

    provider = SafeflagsProvider(store=f"http://127.0.0.1:{free_ports(1)[0]}", channel="prod", timeout=1)
    api.set_provider(provider)
    try:
        wait_until(lambda: api.get_client().get_provider_status() is ProviderStatus.ERROR, what="ERROR")
        # ERROR (not NOT_READY) lets the call reach the provider, which says why it serves the code default.
        d = api.get_client().get_string_details("t.name", "code-default")
        assert (d.value, d.reason, d.error_code) == ("code-default", Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)
    finally:
        api.shutdown()


def test_a_new_bundle_emits_configuration_changed(pub: Publisher, of_client) -> None:  # type: ignore[no-untyped-def]
    seen = threading.Event()

    def on_change(details: EventDetails) -> None:
        seen.set()

    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
    try:
        pub.publish(data=targeted().replace(b"hello", b"howdy"))
        assert seen.wait(10)
        assert of_client.get_string_value("t.name", "") == "howdy"
    finally:
        api.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)


def test_wraps_an_existing_client() -> None:
    client = Client.from_bytes(targeted())
    provider = SafeflagsProvider(client)
    d = provider.resolve_integer_details("t.limit", 0)
    assert (d.value, d.reason) == (10, Reason.STATIC)
    with pytest.raises(TypeError):
        SafeflagsProvider(client, store="file:///x")


def test_delivery_faults_make_the_provider_stale_then_ready(pub: Publisher, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pub.publish(data=targeted())
    api.set_provider_and_wait(SafeflagsProvider(store=pub.url, channel="prod", poll_interval=0.1))
    stale, ready = threading.Event(), threading.Event()

    def on_stale(details: EventDetails) -> None:
        stale.set()

    def on_ready(details: EventDetails) -> None:
        ready.set()

    api.add_handler(ProviderEvent.PROVIDER_STALE, on_stale)
    api.add_handler(ProviderEvent.PROVIDER_READY, on_ready)  # runs at once: the provider is ready
    try:
        ready.clear()
        (tmp_path / "store").rename(tmp_path / "gone")
        assert stale.wait(10)
        assert api.get_client().get_provider_status() is ProviderStatus.STALE
        assert api.get_client().get_string_value("t.name", "") == "hello"  # still served
        ready.clear()  # the handler's first, immediate run may land as late as this
        (tmp_path / "gone").rename(tmp_path / "store")
        wait_until(lambda: api.get_client().get_provider_status() is ProviderStatus.READY, what="READY again")
        assert ready.wait(10)
    finally:
        api.remove_handler(ProviderEvent.PROVIDER_STALE, on_stale)
        api.remove_handler(ProviderEvent.PROVIDER_READY, on_ready)
        api.shutdown()

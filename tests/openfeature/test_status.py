"""The provider's status through the real OpenFeature API: nothing starts
before `initialize()`, and NOT_READY / ERROR / STALE / READY say what is
served, with the matching events."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openfeature import api
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, GeneralError, ProviderFatalError
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus

from safeflags.delivery import Client
from safeflags.openfeature import SafeflagsProvider
from tests.helpers.delivery import Publisher
from tests.helpers.local_http import LocalHTTP, QuietHandler
from tests.helpers.waiting import wait_until


def status() -> ProviderStatus:
    return api.get_client().get_provider_status()


class Events:
    """Every provider event the API hands to global handlers, in order."""

    KINDS = (ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_ERROR, ProviderEvent.PROVIDER_STALE,
             ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)

    def __init__(self) -> None:
        self.seen: list[ProviderEvent] = []
        self._lock = threading.Lock()
        self._handlers: list[tuple[ProviderEvent, Callable[[EventDetails], None]]] = []

    def _handler(self, kind: ProviderEvent) -> Callable[[EventDetails], None]:
        def record(details: EventDetails) -> None:
            if details.provider_name != "safeflags":
                return  # a handler added runs at once for the provider in place before ours
            with self._lock:
                self.seen.append(kind)
        return record

    def __enter__(self) -> Events:
        for kind in self.KINDS:
            handler = self._handler(kind)
            self._handlers.append((kind, handler))
            api.add_handler(kind, handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for kind, handler in self._handlers:
            api.remove_handler(kind, handler)

    def count(self, kind: ProviderEvent) -> int:
        with self._lock:
            return self.seen.count(kind)


@pytest.fixture(autouse=True)
def clean_api() -> Iterator[None]:
    yield
    api.shutdown()
    api.clear_providers()


class HeldStore(LocalHTTP):
    """A store directory over HTTP whose pointer reads wait for `release`:
    the first load inside initialize() lasts as long as a test wants."""

    def __init__(self, root: Path):
        self.release = threading.Event()
        held = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/channels/"):
                    held.release.wait(30)
                self.send_file(root / self.path.split("?")[0].lstrip("/"))

        self.listen(Handler)

    def close(self) -> None:
        self.release.set()
        super().close()


def test_nothing_starts_before_initialize(pub: Publisher) -> None:
    pub.publish(1)
    before = {t.name for t in threading.enumerate()}
    provider = SafeflagsProvider(store=pub.url, channel="prod", poll_interval=3600)
    assert provider.client.delivery is None and provider.status is ProviderStatus.NOT_READY
    assert {t.name for t in threading.enumerate()} - before == set()
    assert provider.resolve_integer_details("t.n", 0).error_code == ErrorCode.PROVIDER_NOT_READY
    api.set_provider_and_wait(provider)
    assert provider.client.delivery is not None and status() is ProviderStatus.READY
    assert api.get_client().get_integer_value("t.n", 0) == 1


def test_unknown_options_are_refused_at_once() -> None:
    with pytest.raises(TypeError, match="poll_intervall"):
        SafeflagsProvider(store="file:///x", channel="prod", poll_intervall=3)
    with pytest.raises(TypeError, match="channel"):
        SafeflagsProvider(store="file:///x")


def test_not_ready_while_the_first_load_lasts(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    store = HeldStore(tmp_path / "store")
    try:
        with Events() as events:
            api.set_provider(SafeflagsProvider(store=store.url, channel="prod", poll_interval=3600, push=False))
            assert status() is ProviderStatus.NOT_READY
            d = api.get_client().get_integer_details("t.n", 7)
            assert (d.value, d.reason, d.error_code) == (7, Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)
            store.release.set()
            wait_until(lambda: status() is ProviderStatus.READY, what="READY once the bundle is in")
            wait_until(lambda: events.count(ProviderEvent.PROVIDER_READY) == 1, what="one PROVIDER_READY")
            assert api.get_client().get_integer_value("t.n", 0) == 1
    finally:
        store.close()


def test_error_without_any_bundle_then_ready_when_one_arrives(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    (tmp_path / "store").rename(tmp_path / "away")  # unreachable, no cache, no cold start
    provider = SafeflagsProvider(store=pub.url, channel="prod", poll_interval=0.05)
    with Events() as events:
        with pytest.raises(GeneralError, match="no bundle"):
            api.set_provider_and_wait(provider)
        assert status() is ProviderStatus.ERROR
        wait_until(lambda: events.count(ProviderEvent.PROVIDER_ERROR) == 1, what="PROVIDER_ERROR")
        d = api.get_client().get_integer_details("t.n", 7)  # ERROR still asks the provider: code defaults
        assert (d.value, d.reason) == (7, Reason.ERROR)
        (tmp_path / "away").rename(tmp_path / "store")
        wait_until(lambda: status() is ProviderStatus.READY, what="READY once a bundle arrives")
        assert api.get_client().get_integer_value("t.n", 0) == 1
        wait_until(lambda: events.count(ProviderEvent.PROVIDER_READY) == 1, what="PROVIDER_READY")
        # The first bundle makes it READY: not also a change of configuration, nor a passing STALE.
        assert events.seen == [ProviderEvent.PROVIDER_ERROR, ProviderEvent.PROVIDER_READY]


def test_a_malformed_store_is_fatal() -> None:
    with pytest.raises(ProviderFatalError, match="unsupported store URL"):
        api.set_provider_and_wait(SafeflagsProvider(store="ftp://flags", channel="prod"))
    assert status() is ProviderStatus.FATAL


def test_stale_when_started_from_the_cache_with_the_store_down(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    cache = tmp_path / "cache"
    with Client(store=pub.url, channel="prod", cache_dir=cache, poll_interval=3600):
        pass  # fills the cache
    (tmp_path / "store").rename(tmp_path / "away")
    with Events() as events:
        api.set_provider_and_wait(SafeflagsProvider(store=pub.url, channel="prod", cache_dir=cache,
                                                    poll_interval=0.05))
        # Loaded (from the cache), so initialize succeeded; but not from the store: STALE.
        wait_until(lambda: status() is ProviderStatus.STALE, what="STALE after a start from the cache")
        assert api.get_client().get_integer_value("t.n", 0) == 1
        (tmp_path / "away").rename(tmp_path / "store")
        wait_until(lambda: status() is ProviderStatus.READY, what="READY once the store answers")
        wait_until(lambda: events.count(ProviderEvent.PROVIDER_READY) == 2, what="the second PROVIDER_READY")
        assert events.seen == [ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_STALE,
                               ProviderEvent.PROVIDER_READY]


def test_stale_snapshot_then_ready_after_a_refresh(pub: Publisher) -> None:
    pub.publish(1)
    provider = SafeflagsProvider(store=pub.url, channel="prod", poll_interval=3600, stale_after=0.05)
    api.set_provider_and_wait(provider)
    of = api.get_client()

    def stale() -> bool:
        of.get_integer_value("t.n", 0)  # staleness comes with time: an evaluation notices it
        return status() is ProviderStatus.STALE

    wait_until(stale, what="STALE once unconfirmed past stale_after")
    assert of.get_integer_details("t.n", 0).reason == Reason.STALE
    assert provider.client.refresh() is False  # confirmed by the store again
    of.get_integer_value("t.n", 0)
    assert status() is ProviderStatus.READY


def test_a_new_bundle_is_a_configuration_change_only(pub: Publisher) -> None:
    pub.publish(1)
    provider = SafeflagsProvider(store=pub.url, channel="prod", poll_interval=3600, push=False)
    with Events() as events:
        api.set_provider_and_wait(provider)
        pub.publish(2)
        assert provider.client.refresh() is True
        wait_until(lambda: events.count(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED) == 1, what="the change")
        assert status() is ProviderStatus.READY
        assert events.seen == [ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]


def test_wrapping_a_client_without_a_bundle_is_an_error() -> None:
    with pytest.raises(GeneralError):
        api.set_provider_and_wait(SafeflagsProvider(Client()))
    assert status() is ProviderStatus.ERROR


def test_shutdown_stops_the_owned_client(pub: Publisher) -> None:
    pub.publish(1)
    provider = SafeflagsProvider(store=pub.url, channel="prod", poll_interval=3600)
    api.set_provider_and_wait(provider)
    delivery = provider.client.delivery
    assert delivery is not None
    api.shutdown()
    assert provider.client.delivery is None and delivery.stop_event.is_set()
    assert provider.client.get_int("t.n", 0) == 1  # the last snapshot keeps serving


def test_delivery_options_reach_the_client(pub: Publisher, tmp_path: Path) -> None:
    from safeflags.delivery import Update
    from tests.store.http_origin import Origin

    pub.publish(1)
    origin = Origin(root=tmp_path / "store")
    changes: list[Update] = []
    try:
        api.set_provider_and_wait(SafeflagsProvider(store=origin.url, channel="prod", token="tk-1", push=False,
                                                    poll_interval=3600, on_change=changes.append))
        assert api.get_client().get_integer_value("t.n", 0) == 1
        assert [c.version for c in changes] == [1]
        assert origin.seen and {s.headers.get("authorization") for s in origin.seen} == {"Bearer tk-1"}
    finally:
        origin.close()

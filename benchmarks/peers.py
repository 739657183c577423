"""Peer SDKs evaluating the benchmark's three flags offline, in process.

Each `setup_*` loads `n` flags (the three benchmark flags plus filler
copies of them under other keys, like the 25,000-flag bundle) and returns
`(call, contexts)`: `call(key, default, ctx)` evaluates one flag, `contexts` the
SDK's own context objects, built once before timing (which favours the
peers: safeflags takes the plain dict). Flags:

    a  plain on
    b  country in {US, CA, GB} and plan == "pro"
    c  a 10 % rollout on user_id
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Ctx = dict[str, str]
Setup = tuple[Callable[[str, bool, Any], Any], list[Any]]
KEYS = ("a", "b", "c")


def _filler(n: int) -> list[tuple[str, str]]:
    """(key, shape) for n flags: the three, then copies of their shapes."""
    return [(k, k) for k in KEYS] + [(f"filler_{i}", KEYS[i % 3]) for i in range(max(0, n - 3))]


def setup_growthbook(n: int, contexts: list[Ctx]) -> Setup:
    from growthbook import GrowthBook

    shapes = {
        "a": {"defaultValue": True},
        "b": {"defaultValue": False, "rules": [
            {"condition": {"country": {"$in": ["US", "CA", "GB"]}, "plan": "pro"}, "force": True}]},
        "c": {"defaultValue": False, "rules": [{"force": True, "coverage": 0.1, "hashAttribute": "user_id"}]},
    }
    gb = GrowthBook(features={k: shapes[s] for k, s in _filler(n)})

    def call(key: str, _default: bool, ctx: Ctx) -> Any:
        gb.set_attributes(ctx)
        return gb.is_on(key)

    return call, contexts


def setup_launchdarkly(n: int, contexts: list[Ctx]) -> Setup:
    import ldclient.impl.integrations.files.file_data_source as fds
    from ldclient import Config, Context, LDClient
    from ldclient.integrations import Files

    fds.have_yaml = False  # with pyyaml present it parses JSON through YAML (minutes for 25k flags)
    base = {"on": True, "variations": [False, True], "offVariation": 0, "targets": [], "prerequisites": [],
            "version": 1, "rules": [], "fallthrough": {"variation": 1}}
    shapes = {
        "a": base,
        "b": {**base, "fallthrough": {"variation": 0}, "rules": [{"id": "r1", "variation": 1, "clauses": [
            {"attribute": "country", "op": "in", "values": ["US", "CA", "GB"], "negate": False},
            {"attribute": "plan", "op": "in", "values": ["pro"], "negate": False}]}]},
        "c": {**base, "fallthrough": {"rollout": {"bucketBy": "user_id", "variations": [
            {"variation": 1, "weight": 10000}, {"variation": 0, "weight": 90000}]}}},
    }
    path = Path(tempfile.mkdtemp()) / "ld.json"
    path.write_text(json.dumps({"flags": {k: {**shapes[s], "key": k, "salt": k} for k, s in _filler(n)}}))
    client = LDClient(config=Config("bench-sdk-key", update_processor_class=Files.new_data_source(paths=[str(path)]),
                                    send_events=False, diagnostic_opt_out=True))
    native = [Context.builder(c["user_id"]).set("user_id", c["user_id"]).set("country", c["country"])
              .set("plan", c["plan"]).build() for c in contexts]

    def call(key: str, _default: bool, ctx: Any) -> Any:
        return client.variation(key, ctx, False)

    return call, native


def _flagd_file(n: int) -> str:
    variants = {"on": True, "off": False}
    shapes = {
        "a": {"state": "ENABLED", "variants": variants, "defaultVariant": "on"},
        "b": {"state": "ENABLED", "variants": variants, "defaultVariant": "off", "targeting": {"if": [
            {"and": [{"in": [{"var": "country"}, ["US", "CA", "GB"]]}, {"==": [{"var": "plan"}, "pro"]}]},
            "on", "off"]}},
        "c": {"state": "ENABLED", "variants": variants, "defaultVariant": "off",
              "targeting": {"fractional": [{"var": "user_id"}, ["on", 10], ["off", 90]]}},
    }
    path = Path(tempfile.mkdtemp()) / "flagd.json"
    path.write_text(json.dumps({"flags": {k: shapes[s] for k, s in _filler(n)}}))
    return str(path)


def _flagd_provider(n: int) -> Any:
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType

    provider = FlagdProvider(resolver_type=ResolverType.IN_PROCESS, offline_flag_source_path=_flagd_file(n))
    provider.config.offline_poll_interval_ms = 3_600_000  # or it loads the file twice
    provider.initialize(None)  # type: ignore[arg-type]
    return provider


def _of_contexts(contexts: list[Ctx]) -> list[Any]:
    from openfeature.evaluation_context import EvaluationContext

    return [EvaluationContext(targeting_key=c["user_id"], attributes=dict(c)) for c in contexts]


def setup_flagd(n: int, contexts: list[Ctx]) -> Setup:
    provider = _flagd_provider(n)

    def call(key: str, _default: bool, ctx: Any) -> Any:
        return provider.resolve_boolean_details(key, False, ctx).value

    return call, _of_contexts(contexts)


def setup_flagd_openfeature(n: int, contexts: list[Ctx]) -> Setup:
    from openfeature import api

    api.set_provider(_flagd_provider(n))
    client = api.get_client()

    def call(key: str, _default: bool, ctx: Any) -> Any:
        return client.get_boolean_value(key, False, ctx)

    return call, _of_contexts(contexts)


def setup_unleash(n: int, contexts: list[Ctx]) -> Setup:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    shapes = {
        "a": [{"name": "default"}],
        "b": [{"name": "default", "constraints": [
            {"contextName": "country", "operator": "IN", "values": ["US", "CA", "GB"]},
            {"contextName": "plan", "operator": "IN", "values": ["pro"]}]}],
        "c": [{"name": "flexibleRollout", "parameters": {"rollout": "10", "stickiness": "userId", "groupId": "c"}}],
    }
    features = [{"name": k, "enabled": True, "strategies": shapes[s]} for k, s in _filler(n)]
    cache = FileCache("bench", directory=tempfile.mkdtemp())
    cache.bootstrap_from_dict({"version": 1, "features": features})
    client = UnleashClient(url="http://127.0.0.1:9", app_name="bench", disable_metrics=True,
                           disable_registration=True, cache=cache, refresh_interval=3600)
    client.initialize_client(fetch_toggles=False)
    native = [{"userId": c["user_id"], "properties": {"country": c["country"], "plan": c["plan"]}} for c in contexts]

    def call(key: str, _default: bool, ctx: Any) -> Any:
        return client.is_enabled(key, ctx)

    return call, native


PEERS: dict[str, Callable[[int, list[Ctx]], Setup]] = {
    "growthbook": setup_growthbook,
    "launchdarkly": setup_launchdarkly,
    "flagd (provider)": setup_flagd,
    "flagd (OpenFeature client)": setup_flagd_openfeature,
    "unleash": setup_unleash,
}

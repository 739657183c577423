"""Delivery: keep an SDK client current from a bundle store, fail static.

    client = safeflags.Client(store="s3://flags/prod", channel="prod",
                              static={"region": "eu-west-1"}, cache_dir="/var/cache/flags",
                              cold_start="flags/cold-start.pb", poll_interval=30)

Imports nothing beyond the SDK and the standard library (boto3 only for
s3://, cryptography only when a public key is configured).
"""
from __future__ import annotations

from safeflags.delivery.client import Client, start_delivery
from safeflags.delivery.delivery import Delivery, DeliveryStatus, Fault, Update

__all__ = ["Client", "Delivery", "DeliveryStatus", "Fault", "Update", "start_delivery"]

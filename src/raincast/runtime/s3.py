"""The embedded S3 endpoint: moto's server on 127.0.0.1 (a free port), or an endpoint that
is already running (``raincast serve`` provides one). State machines' ItemReader and
ResultWriter and the handlers (through ``AWS_ENDPOINT_URL`` in their environment) all use
the same endpoint, so what a handler writes an ItemReader can read."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
S3_REGION = "us-east-1"


def s3_client(endpoint_url: str, region: str = S3_REGION) -> Any:
    """A boto3 S3 client for a local endpoint: fake credentials, path-style addressing."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        **FAKE_CREDENTIALS,
    )


def _quiet_moto_server() -> Any:
    """moto's server (what ``ThreadedMotoServer`` runs) on a free port of 127.0.0.1, without
    a request log line on stderr for every S3 call."""
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc, valid-type]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    app = DomainDispatcherApplication(create_backend_app)
    return make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)


class LocalS3:
    """``LocalS3()`` starts moto's S3 server in this process; ``LocalS3(endpoint_url)`` uses
    an existing one. ``create_buckets`` makes the template's buckets (idempotent)."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self._server: Any | None = None
        self._lock = threading.Lock()
        self._client: Any | None = None
        self._thread: threading.Thread | None = None
        if endpoint_url is None:
            self._server = _quiet_moto_server()
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="raincast-local-s3", daemon=True
            )
            self._thread.start()
            host, port = self._server.server_address[:2]
            endpoint_url = f"http://{host}:{port}"
        self.endpoint_url: str = endpoint_url.rstrip("/")

    @property
    def embedded(self) -> bool:
        return self._server is not None

    def client(self) -> Any:
        """A new boto3 client (clients are thread-safe; make one per thread if you like)."""
        return s3_client(self.endpoint_url)

    def shared_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self.client()
            return self._client

    def create_buckets(self, names: Iterable[str]) -> None:
        client = self.shared_client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for name in names:
            if name not in existing:
                client.create_bucket(Bucket=name)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> LocalS3:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

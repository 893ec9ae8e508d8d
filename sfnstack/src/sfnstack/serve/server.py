"""``sfnstack serve``: the local stack in one process.

- port P: S3 and the Step Functions API on one endpoint (requests carrying
  ``X-Amz-Target: AWSStepFunctions.*`` go to Step Functions, everything else to S3), so one
  ``AWS_ENDPOINT_URL=http://127.0.0.1:P`` serves boto3 and the aws CLI;
- port P+1: the template's start API;
- the upload trigger (S3 -> EventBridge rules) and the schedules.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfnstack.arns import DEFAULT_ACCOUNT_ID
from sfnstack.http_front import HttpFront
from sfnstack.mocks import MockConfig
from sfnstack.serve.apigateway import StartApi
from sfnstack.serve.executions import Executions
from sfnstack.serve.hot_reload import CodeWatcher
from sfnstack.serve.persistent_s3 import S3Endpoint
from sfnstack.serve.stepfunctions import TARGET_PREFIX, StepFunctionsApi
from sfnstack.serve.store import DataDir
from sfnstack.serve.template_triggers import TemplateTriggers, read_triggers
from sfnstack.serve.triggers import EventBus, Scheduler
from sfnstack.template import load_template

log = logging.getLogger("sfnstack.serve")

__all__ = ["ServeConfig", "Server"]


@dataclass
class ServeConfig:
    template: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port_base: int = 4566
    schedule: bool = True
    schedule_expression: str | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    workers: int | None = None
    grace_seconds: float = 30.0
    mock_config: MockConfig | None = None  # SFN_MOCK_CONFIG (sfnstack.mocks)
    hot_reload: bool = True  # fresh environments for functions whose code changed


class _NotReady:
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        body = b'{"__type": "ServiceUnavailable", "message": "sfnstack serve is starting"}'
        start_response("503 Service Unavailable", [("Content-Type", "application/x-amz-json-1.0")])
        return [body]


class _Dispatcher:
    """One endpoint for S3 and Step Functions, routed by ``X-Amz-Target``."""

    def __init__(self, s3: S3Endpoint) -> None:
        self.s3 = s3
        self.sfn: Any = _NotReady()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(TARGET_PREFIX):
            return self.sfn(environ, start_response)
        service = _signed_service(environ)
        if environ.get("HTTP_X_AMZ_TARGET") or service not in (None, "s3", "states"):
            # another AWS service pointed at this endpoint: say so instead of an S3 error
            what = service or environ.get("HTTP_X_AMZ_TARGET")
            body = json.dumps(
                {
                    "__type": "UnknownOperationException",
                    "message": f"sfnstack serve offers S3 and Step Functions here, not {what}",
                }
            ).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
            return [body]
        return self.s3(environ, start_response)


def _signed_service(environ: dict[str, Any]) -> str | None:
    """The service in a SigV4 credential scope (``Credential=AKID/date/region/SERVICE/...``)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request", authorization)
    if match:
        return match.group(1)
    query = environ.get("QUERY_STRING", "")
    match = re.search(
        r"X-Amz-Credential=[^&]*?(?:/|%2F)\d{8}(?:/|%2F)[^&/%]+(?:/|%2F)([a-z0-9-]+)", query
    )
    return match.group(1) if match else None


class Server:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.data = DataDir(config.data_dir)
        self.template_path = Path(config.template).resolve()
        self.region = (
            os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        )
        self.runtime: Any = None
        self.executions: Executions | None = None
        self.triggers: TemplateTriggers | None = None
        self.bus: EventBus | None = None
        self.scheduler: Scheduler | None = None
        self.code_watcher: CodeWatcher | None = None
        self._servers: list[HttpFront] = []
        self.s3: S3Endpoint | None = None
        self._threads: list[threading.Thread] = []

    @property
    def _client_host(self) -> str:
        """Where clients (and the Lambda workers) reach the server: a wildcard listen
        address is reached through loopback."""
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def endpoint_url(self) -> str:
        return f"http://{self._client_host}:{self.config.port_base}"

    @property
    def api_url(self) -> str:
        return f"http://{self._client_host}:{self.config.port_base + 1}"

    def _serve(self, app: Any, port: int, name: str) -> None:
        host = self.config.host
        listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind((host, port))
            listening.listen(128)
        except OSError as exc:
            listening.close()
            raise OSError(
                f"cannot listen on {host}:{port} for the {name} "
                "(in use? choose other ports with --port-base)"
            ) from exc
        server = HttpFront(listening, app)
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)

    def _check_ports(self) -> None:
        """Both ports free before anything starts, so a clash is one clear error."""
        for port in (self.config.port_base, self.config.port_base + 1):
            with socket.socket(
                socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
            ) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.config.host, port))
                except OSError as exc:
                    raise OSError(
                        f"cannot listen on {self.config.host}:{port}: {exc.strerror} "
                        "(choose other ports with --port-base)"
                    ) from exc

    def start(self) -> None:
        # a file that is no template, or a parameter without a value: say so before listening
        load_template(self.template_path, parameter_overrides=self.config.parameter_overrides)
        self.data.lock()  # one server per data dir (DataDirInUse, an OSError, otherwise)
        self._check_ports()
        s3 = S3Endpoint(
            self.data,
            region=self.region,
            account=DEFAULT_ACCOUNT_ID,
            server_hosts=[self.config.host],
        )
        self.s3 = s3
        buckets, objects = s3.restore()
        if buckets:
            log.info(
                "restored %d bucket(s), %d object(s) from %s", buckets, objects, self.data.root
            )
        dispatcher = _Dispatcher(s3)
        # S3 answers first: the runtime (and its Lambda workers) talk to it
        self._serve(dispatcher, self.config.port_base, "endpoint")
        from sfnstack.local import LocalRuntime

        self.runtime = LocalRuntime(
            str(self.template_path),
            s3_endpoint_url=self.endpoint_url,
            workers=self.config.workers,
            parameter_overrides=self.config.parameter_overrides or None,
            env_overrides=None,
        )
        if self.config.hot_reload:
            self.code_watcher = CodeWatcher(self.runtime.functions, self.runtime.lambdas).start()
            self.runtime.before_invoke = self.code_watcher.before_invoke
        for logical_id, bucket in self.runtime.buckets.items():
            if s3.ensure_bucket(bucket, versioning=self._versioned(logical_id)):
                log.info("created bucket %s", bucket)
        # the runtime's own template: triggers name the buckets and state machines it runs
        self.triggers = read_triggers(self.runtime.template)
        self.executions = Executions(self.runtime, self.data, mock_config=self.config.mock_config)
        sfn = StepFunctionsApi(self.executions)
        created = sfn.machines.restore()  # before the executions: theirs need them
        if created:
            log.info("restored %d state machine(s) made with CreateStateMachine", created)
        loaded, aborted = self.executions.restore()
        if loaded:
            log.info(
                "restored %d execution(s)%s",
                loaded,
                f"; {aborted} were running when the server stopped: marked ABORTED"
                if aborted
                else "",
            )
        dispatcher.sfn = sfn
        self.bus = EventBus(self.triggers.rules, self.data, self._start_by_logical_id)
        s3.event_buckets = self.triggers.eventbridge_buckets
        s3.on_event = self.bus.put_event
        api = StartApi(
            self.triggers.api_routes, sfn.start_execution_for, self.runtime.template.account_id
        )
        self._serve(api, self.config.port_base + 1, "start-api")
        log.info(
            "S3 + Step Functions endpoint: %s  (AWS_ENDPOINT_URL=%s)",
            self.endpoint_url,
            self.endpoint_url,
        )
        for logical_id, bucket in self.runtime.buckets.items():
            log.info("  bucket %-16s s3://%s", logical_id, bucket)
        for logical_id, sm in self.runtime.state_machines.items():
            log.info("  state machine %s: %s", logical_id, sm.arn)
        for rule in self.triggers.rules:
            log.info("upload trigger: rule %s -> %s", rule.rule_id, rule.state_machine_id)
        for route in self.triggers.api_routes:
            log.info(
                "start API: %s %s%s%s",
                route.method,
                self.api_url,
                route.path,
                " (IAM auth: sign requests with SigV4)" if route.iam_auth else "",
            )
        if self.config.schedule and self.triggers.schedules:
            self.scheduler = Scheduler(
                self.triggers.schedules, self._start_by_logical_id, self.config.schedule_expression
            )
            self.scheduler.start()
        elif self.triggers.schedules:
            log.info("schedules off (--no-schedule)")

    def _versioned(self, bucket_logical_id: str) -> bool:
        """Whether the template enables versioning on the bucket."""
        properties = self.runtime.template.resource(bucket_logical_id).get("Properties") or {}
        config = self.runtime.template.resolve(
            properties.get("VersioningConfiguration") or {}, bucket_logical_id
        )
        return isinstance(config, dict) and config.get("Status") == "Enabled"

    def _start_by_logical_id(self, logical_id: str, input_text: str, trigger: str) -> Any:
        assert self.executions is not None
        sm = self.runtime.state_machines[logical_id]
        return self.executions.start(sm.arn, input_text, None, trigger)

    def stop(self, hurry: threading.Event | None = None) -> None:
        """Stop triggers, let running executions finish within the grace period (S3 stays up
        for them), abort the rest, then close the endpoints, write the object changes still
        pending and close the runtime."""
        log.info("stopping")
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.bus is not None:
            self.bus.close()
        if self.code_watcher is not None:
            self.code_watcher.stop()
        if self.executions is not None:
            self.executions.shutdown(self.config.grace_seconds, hurry)
        for server in self._servers:
            server.shutdown()
        for server in self._servers:
            server.server_close()
        if self.s3 is not None:
            self.s3.close()  # the object changes acknowledged but not yet written
        if self.runtime is not None:
            try:
                self.runtime.close()
            except Exception:
                log.exception("closing the runtime failed")
        self.data.unlock()
        log.info("stopped; state kept in %s", self.data.root)

"""Plumbing shared by the three API simulators (WSGI, routing, faults, rate limits).

A simulator is a :class:`SimApp` subclass: it registers routes with :meth:`SimApp.route`,
keeps its state in memory under ``self.lock``, and gets for free:

* fault injection (latency, 5xx rate, timeouts, connection resets, 429 bursts, answers
  lost after the work was done), settable at construction and over ``GET/POST
  /_sim/faults`` (whose answer also counts the faults served, under ``served``);
* fixed-window rate limits (:class:`FixedWindow`) with a ``time_scale`` knob so a
  120-per-minute window can be exercised in seconds;
* ``POST /_sim/reset``, ``GET /_sim/state`` and ``GET /_sim/requests`` (the request log, for
  tests that assert how many write calls were made);
* :func:`serve` to run it on a loopback port in a thread.

Only loopback addresses are ever bound.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Faults:
    """Fault injection settings. Rates are probabilities in [0, 1]."""

    latency_ms: int = 0
    error_rate: float = 0.0  # answer 500/502/503
    timeout_rate: float = 0.0  # sleep ``timeout_s`` before answering
    timeout_s: float = 35.0
    reset_rate: float = 0.0  # close the socket without an answer
    burst_429: int = 0  # the next N requests get 429
    retry_after: float = 1.0
    drop_rate: float = 0.0  # do the work, then close the socket: the answer is lost

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown fault setting {key!r}")
            setattr(self, key, type(getattr(self, key))(value))


class ConnectionReset(Exception):
    """Raised inside a handler to make the server drop the connection."""


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    environ: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def args(self) -> dict[str, str]:
        """The query string as a dict (last value wins)."""
        return dict(self.query)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def raw_query(self) -> str:
        return str(self.environ.get("QUERY_STRING", ""))

    @property
    def full_url(self) -> str:
        host = self.environ.get("HTTP_HOST") or (
            f"{self.environ.get('SERVER_NAME')}:{self.environ.get('SERVER_PORT')}"
        )
        url = f"http://{host}{self.path}"
        if self.raw_query:
            url += f"?{self.raw_query}"
        return url


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes sent as is; None → empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


Handler = Callable[[Request], Response]


class FixedWindow:
    """Counts requests in fixed windows that reset at the top of each period of the wall
    clock (FreeAgent: "counters reset at the top of each minute/hour"), as the real APIs
    do; ``time_scale`` shrinks them (a 60 s window of 0.05 resets every 3 s, on the
    multiples of 3 s since the epoch — where a client's budget for the same window resets)."""

    def __init__(self, limit: int, window_s: float, *, time_scale: float = 1.0) -> None:
        self.limit = limit
        self.window_s = window_s * time_scale
        self._window = -1
        self._count = 0
        self._lock = threading.Lock()

    def hit(self, now: float | None = None) -> float | None:
        """Count one request; return ``None`` if allowed, else seconds until the reset."""
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        with self._lock:
            if window != self._window:
                self._window = window
                self._count = 0
            if self._count >= self.limit:
                return max(0.0, (window + 1) * self.window_s - now)
            self._count += 1
            return None


class SimApp:
    """A WSGI app with routing, fault injection and a request log."""

    name = "sim"

    def __init__(self, *, faults: Faults | None = None, seed: int = 1) -> None:
        self.lock = threading.RLock()
        self.faults = faults or Faults()
        self.random = random.Random(seed)
        self.request_log: list[dict[str, Any]] = []
        self.faults_served: Counter[str] = Counter()  # faults served, by kind
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.route("GET", r"/_sim/faults", self._get_faults)
        self.route("POST", r"/_sim/faults", self._set_faults)
        self.route("GET", r"/_sim/requests", self._get_requests)
        self.route("POST", r"/_sim/reset", self._reset)
        self.route("GET", r"/_sim/state", self._get_state)

    # -- to override -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all state (called by ``POST /_sim/reset``)."""
        with self.lock:
            self.request_log.clear()
            self.faults_served.clear()

    def state(self) -> dict[str, Any]:
        """A JSON summary of the state (``GET /_sim/state``)."""
        return {}

    def not_found(self, request: Request) -> Response:
        return Response(404, {"message": f"No route for {request.method} {request.path}"})

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            429,
            {"message": "Too Many Requests"},
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )

    def check_rate_limit(self, request: Request) -> float | None:
        """Return seconds-to-wait when the request is over the simulated limit."""
        return None

    # -- routing -------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            allowed = True
            if method != request.method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            return handler(request)
        if allowed:
            return Response(405, {"message": f"Method {request.method} not allowed"})
        return self.not_found(request)

    def handle(self, request: Request) -> Response:
        if not request.path.startswith("/_sim/"):
            fault = self._inject_fault(request)
            if fault is not None:
                return fault
            wait = self.check_rate_limit(request)
            if wait is not None:
                return self.rate_limited(request, wait)
        response = self.dispatch(request)
        if not request.path.startswith("/_sim/") and response.status < 400:
            with self.lock:
                dropped = self.random.random() < self.faults.drop_rate
            if dropped:
                self._count("dropped")
                raise ConnectionReset  # done, but the client never hears of it
        return response

    def _inject_fault(self, request: Request) -> Response | None:
        f = self.faults
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000)
        with self.lock:
            if f.burst_429 > 0:
                f.burst_429 -= 1
                self.faults_served["429"] += 1
                return self.rate_limited(request, f.retry_after)
            roll = self.random.random()
        if roll < f.reset_rate:
            self._count("reset")
            raise ConnectionReset
        roll -= f.reset_rate
        if roll < f.timeout_rate:
            self._count("timeout")
            time.sleep(f.timeout_s)
            return Response(504, {"message": "Gateway Timeout"})
        roll -= f.timeout_rate
        if roll < f.error_rate:
            self._count("5xx")
            status = self.random.choice([500, 502, 503])
            return Response(status, {"message": HTTPStatus(status).phrase})
        return None

    def _count(self, kind: str) -> None:
        with self.lock:
            self.faults_served[kind] += 1

    # -- /_sim/ control endpoints ----------------------------------------------------------

    def _get_faults(self, request: Request) -> Response:
        with self.lock:
            return Response(200, {**asdict(self.faults), "served": dict(self.faults_served)})

    def _set_faults(self, request: Request) -> Response:
        try:
            self.faults.update(request.json() or {})
        except (ValueError, TypeError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, asdict(self.faults))

    def _get_requests(self, request: Request) -> Response:
        """The request log; ``?since=N``: from the N-th entry on; ``?count=1``: its length;
        ``?summary=1``: how many of each kind (``"POST /v2/contacts/{id}"``: n) — a few
        lines however long the log, for a benchmark that must not hold it in memory."""
        args = request.args
        with self.lock:
            if args.get("count"):
                return Response(200, {"count": len(self.request_log)})
            try:
                since = max(0, int(args.get("since") or 0))
            except ValueError:
                return Response(400, {"message": "since must be a whole number"})
            if args.get("summary"):
                kinds: dict[str, int] = {}
                for entry in self.request_log[since:]:
                    kind = f"{entry['method']} {request_route(str(entry['path']))}"
                    kinds[kind] = kinds.get(kind, 0) + 1
                return Response(200, kinds)
            return Response(200, self.request_log[since:])

    def _reset(self, request: Request) -> Response:
        self.reset()
        return Response(200, {"reset": True})

    def _get_state(self, request: Request) -> Response:
        return Response(200, self.state())

    # -- WSGI ------------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        request = Request(
            method=str(environ["REQUEST_METHOD"]).upper(),
            path=str(environ.get("PATH_INFO") or "/"),
            query=parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True),
            headers=headers,
            body=body,
            environ=environ,
        )
        try:
            response = self.handle(request)
        except ConnectionReset:
            # Tell the server to drop the socket without writing a response.
            environ["simkit.reset"] = True
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        if not request.path.startswith("/_sim/"):
            with self.lock:
                self.request_log.append(
                    {
                        "method": request.method,
                        "path": request.path,
                        "query": request.raw_query,
                        "status": response.status,
                        "time": time.time(),
                    }
                )
        payload = response.encode()
        header_list = [(k, v) for k, v in response.headers.items()]
        if payload or response.content_type:
            header_list.append(("Content-Type", response.content_type))
        header_list.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {_reason(response.status)}", header_list)
        return [payload]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as the real APIs answer (wsgiref alone closes every
    connection after one request), and a reset fault that drops the connection."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # wsgiref writes the headers and the body apart: with Nagle's algorithm on, a kept-
        # alive connection would wait for the client's delayed ACK (40 ms) at every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        # Mirrors WSGIRequestHandler.handle, one request of the connection at a time.
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True  # the client closed it
            return
        if len(self.raw_requestline) > 65536 or not self.parse_request():
            self.close_connection = True
            return
        handler = _ResettableHandler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class _ResettableHandler(ServerHandler):
    request_handler: WSGIRequestHandler
    environ: dict[str, Any]
    http_version = "1.1"

    def finish_response(self) -> None:
        if self.environ.get("simkit.reset"):
            sock = self.request_handler.connection
            with contextlib.suppress(OSError):
                # Linger 0: close with RST, as a real connection reset does.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            self.close()
            # The file descriptor closes (with RST) when the connection's loop ends.
            self.request_handler.close_connection = True
            return
        super().finish_response()


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class RunningServer:
    """A simulator served in a background thread; ``url`` is its base URL."""

    def __init__(self, app: SimApp, host: str, port: int) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"simulators bind loopback only, not {host!r}")
        self.app = app
        self.httpd = make_server(
            host, port, app, server_class=ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.host = host
        self.port = self.httpd.server_port
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # fast shutdown in tests
            name=f"sim-{app.name}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> RunningServer:
        if not self.thread.is_alive():
            self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: SimApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = a free port) in a daemon thread."""
    return RunningServer(app, host, port).start()


def request_route(path: str) -> str:
    """``/v2/contacts/12`` → ``/v2/contacts/{id}``: one kind of request."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))

"""A small JSON-over-HTTP client for OpenAI-compatible servers: timeouts, retries, one-line errors.

Standard library only (``http.client``), one keep-alive connection per thread. What it promises:

- a request that gets 429 or 5xx, times out, loses its connection, or returns a body that is not
  complete JSON is retried with exponential backoff and full jitter (``Retry-After`` honoured,
  capped); after the last attempt it fails with one line (``ServerError``);
- a server that cannot be reached on the *first* contact (connection refused, unknown host) fails
  at once with one line (``ServerUnreachable``): a typo in ``--base-url`` should not cost a
  minute of backoff; later in a run the same errors are retried (a server restarting);
- a response body is read against a deadline and a size cap, so a server that drips bytes or
  sends gigabytes can neither hang nor exhaust memory;
- the API key is sent in the ``Authorization`` header and redacted from every message.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from datalint.errors import DatalintError

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_RETRY_AFTER_CAP_S = 120.0
_READ_CHUNK = 1 << 16


class ServerError(DatalintError):
    """The server failed in a way retries did not fix, or refused the request (one line)."""


class ServerUnreachable(ServerError):
    """Connection refused or the host name does not resolve."""


class ServerRejected(ServerError):
    """A 4xx answer other than 429: retrying the same request cannot help."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (AWS's recipe): uniform in [0, min(cap, base * 2^attempt)]; a server's
        Retry-After is a floor, since it knows when it will have room again."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2**attempt))
        jittered = random.uniform(0, ceiling)
        if retry_after is not None:
            return max(min(retry_after, _RETRY_AFTER_CAP_S), jittered)
        return jittered


def normalize_base_url(url: str) -> str:
    """``http(s)://host[:port]/path`` without a trailing slash; refuses what cannot be a base URL.

    Credentials in the URL are refused: the URL is part of the cache key and of messages, the API
    key belongs in its environment variable.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerError(f"--base-url {url!r}: needs http:// or https:// and a host")
    if parts.username is not None or parts.password is not None:
        raise ServerError(
            "--base-url must not hold credentials; put the API key in OPENAI_API_KEY "
            "(or the variable --api-key-env names)"
        )
    if parts.query or parts.fragment:
        raise ServerError("--base-url must not have a query or a fragment")
    try:
        port = parts.port
    except ValueError as error:
        raise ServerError(f"--base-url: {error}") from error
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def printable(text: str, limit: int = 200) -> str:
    """Server text for a one-line message: control characters escaped, length capped."""
    cleaned = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


class JsonClient:
    """POST/GET JSON to ``base_url + path`` from many threads at once."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_s: float,
        retry: RetryPolicy,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path
        self._api_key = api_key or None
        self.timeout_s = timeout_s
        self.retry = retry
        self.max_response_bytes = max_response_bytes
        self._local = threading.local()
        self._contacted = False

    # -- public --------------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        return self.request("GET", path, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        url = self.base_url + path
        payload = None if body is None else json.dumps(body).encode()
        last = ""
        for attempt in range(self.retry.max_retries + 1):
            try:
                result = self._attempt(method, path, payload)
                self._contacted = True
                return result
            except _Retryable as error:
                last = str(error)
                if attempt == self.retry.max_retries:
                    break
                time.sleep(self.retry.delay(attempt, error.retry_after))
        tries = self.retry.max_retries + 1
        raise ServerError(self.redact(f"{url}: gave up after {tries} attempts: {last}"))

    def redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    # -- one attempt -------------------------------------------------------------------------
    def _attempt(self, method: str, path: str, payload: bytes | None) -> Any:
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        conn = self._connection()
        # A hard deadline for the whole exchange: a server that drips its headers or its body
        # byte by byte never trips the socket's per-read timeout, so a timer cuts it off.
        expired = threading.Event()
        watchdog = threading.Timer(self.timeout_s, _cut, args=(conn, expired))
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request(method, self._prefix + path, body=payload, headers=headers)
            response = conn.getresponse()
            status = response.status
            retry_after = _retry_after(response.getheader("Retry-After"))
            data = self._read(response)
        except (ConnectionRefusedError, socket.gaierror) as error:
            self._drop()
            if not self._contacted:
                raise ServerUnreachable(
                    f"cannot reach the server at {self.base_url}: {_reason(error)}"
                ) from None
            raise _Retryable(f"connection failed: {_reason(error)}") from None
        except (OSError, http.client.HTTPException) as error:
            self._drop()
            if expired.is_set() or isinstance(error, TimeoutError):
                raise _Retryable(f"no complete answer within {self.timeout_s:g} s") from None
            raise _Retryable(f"connection failed: {_reason(error)}") from None
        except _Retryable:
            self._drop()  # a half-read answer: the connection cannot carry another
            raise
        finally:
            watchdog.cancel()
        if response.will_close or expired.is_set():
            self._drop()
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}{_detail(data)}", retry_after)
        if status >= 400:
            detail = self.redact(_error_message(data))
            raise ServerRejected(
                f"{self.base_url + path}: HTTP {status}: {printable(detail)}", status, detail
            )
        if status != 200:
            raise _Retryable(f"unexpected HTTP {status}")
        try:
            return json.loads(data)
        except (UnicodeDecodeError, ValueError):
            raise _Retryable("the answer is not complete JSON") from None

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        # read1 returns what has arrived (read(n) would wait for all n bytes).
        while chunk := response.read1(_READ_CHUNK):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise _Retryable(f"the answer exceeds {self.max_response_bytes} bytes")
            chunks.append(chunk)
        if response.length:  # the connection ended before Content-Length bytes came
            raise http.client.IncompleteRead(b"".join(chunks), response.length)
        response.read()  # marks a fully read response closed, so the connection can be reused
        return b"".join(chunks)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout_s)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _cut(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    expired.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _error_message(data: bytes) -> str:
    """The ``error.message`` (OpenAI's shape, vLLM's too) or ``message``/``detail``, else text."""
    text = data.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        for key in ("message", "detail", "error"):
            if isinstance(parsed.get(key), str):
                return parsed[key]
    return text.strip()


def _detail(data: bytes) -> str:
    message = _error_message(data)
    return f": {printable(message, 120)}" if message else ""

"""HTTP client for Voucherify: per-thread sessions, timeouts, retries, errors and rate-limit status."""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.connection
import urllib3.response
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import budget

logger = logging.getLogger("customers_app.voucherify")

IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_SECONDS = 4.0
# Threads per process waiting on Voucherify for pages (``get_soon``): twice gunicorn's threads (8) by default.
SEND_THREADS = 16


# Errors ---------------------------------------------------------------------------------------


class VoucherifyError(Exception):
    """Base of every failure talking to Voucherify; carries what the API said about it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        key: str | None = None,
        details: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.key = key
        self.details = details
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.details:
            parts.append(self.details)
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return " | ".join(parts)


class Unavailable(VoucherifyError):
    """Voucherify could not be reached or answered with a 5xx or a body that is not JSON."""

    timed_out = False


class UpstreamTimeout(Unavailable):
    """Voucherify did not answer within the time budget (the UI shows 504 rather than 502/503)."""

    timed_out = True


class RateLimited(VoucherifyError):
    """429: the project's request quota is used up; ``retry_after`` is in seconds when known.

    ``retry_at`` is the moment (UTC) calls are accepted again; ``by_governor`` means the dashboard's
    own budget stopped the call before it was sent (Voucherify would have refused it).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        retry_at: datetime | None = None,
        by_governor: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        if retry_at is None and retry_after is not None:
            retry_at = datetime.now(UTC) + timedelta(seconds=retry_after)
        self.retry_after = retry_after
        self.retry_at = retry_at
        self.by_governor = by_governor


class AuthError(VoucherifyError):
    """401/403: the app id/token are wrong or lack access (or the wrong region is used)."""


class NotFound(VoucherifyError):
    """404: the customer, async action or segment does not exist."""


class RequestError(VoucherifyError):
    """Any other 4xx: Voucherify rejected the request; ``details`` says why."""


STATUS_ERRORS: dict[int, type[VoucherifyError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFound,
    429: RateLimited,
}


def error_class_for(status: int) -> type[VoucherifyError]:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return Unavailable if status >= 500 else RequestError


# Rate-limit status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitStatus:
    """The latest rate-limit headers Voucherify sent, for the UI; fields are None until seen."""

    limit: int | None = None
    remaining: int | None = None
    retry_after: float | None = None
    observed_at: datetime | None = None


_rate_limit_lock = threading.Lock()
_rate_limit = RateLimitStatus()


def rate_limit_status() -> RateLimitStatus:
    with _rate_limit_lock:
        return _rate_limit


def _record_rate_limit(response: requests.Response) -> None:
    global _rate_limit
    limit = _int_header(response, "X-Rate-Limit-Limit")
    remaining = _int_header(response, "X-Rate-Limit-Remaining")
    retry_after = _retry_after(response)
    if limit is None and remaining is None and retry_after is None:
        return
    with _rate_limit_lock:
        _rate_limit = RateLimitStatus(
            limit=limit if limit is not None else _rate_limit.limit,
            remaining=remaining if remaining is not None else _rate_limit.remaining,
            retry_after=retry_after,
            observed_at=datetime.now(UTC),
        )


def _tell_governor(response: requests.Response, booking: budget.Decision) -> None:
    """Lets the budget correct itself from what Voucherify says is left (other clients spend it too)."""
    retry_at = None
    if response.status_code == 429:
        retry_at = _int_header(response, "X-Rate-Limit-Retry")
        if retry_at is None:
            wait = _retry_after(response)
            retry_at = time.time() + wait if wait is not None else None
    budget.observe(
        limit=_int_header(response, "X-Rate-Limit-Limit"),
        remaining=_int_header(response, "X-Rate-Limit-Remaining"),
        retry_at=retry_at,
        usage=booking.usage,
    )


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds; it may also be an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# Paths -------------------------------------------------------------------------------------------


class ApiPath(str):
    """A request path that remembers its route template, so logs never show the ids in it."""

    route: str

    def __new__(cls, route: str, *ids: str) -> ApiPath:
        instance = super().__new__(cls, route.format(*(quote(str(i), safe="") for i in ids)))
        instance.route = route
        return instance


def path(route: str, *ids: str) -> ApiPath:
    """``path("/v1/customers/{}", customer_id)``: every id is percent-escaped, ``/`` included."""
    return ApiPath(route, *ids)


# Client ------------------------------------------------------------------------------------------

type _Exchange = tuple[requests.Response | None, requests.RequestException | None]


@dataclass(frozen=True)
class _Made:
    """What ``get_soon``'s sending thread read from a successful answer (``parse``, else its JSON)."""

    value: Any


type _Sent = tuple[requests.Response | None, requests.RequestException | None, _Made | None]


class Pending[T]:
    """The answer to a call already on its way: ``result()`` waits for it once and then gives the
    same value (or raises the same error) every time it is asked."""

    def __init__(self, finish: Callable[[], T]) -> None:
        self._finish: Callable[[], T] | None = finish
        self._value: T | None = None
        self._error: BaseException | None = None

    @classmethod
    def settled(cls, work: Callable[[], T]) -> Pending[T]:
        """Does ``work`` now; its value or error is kept for ``result()``."""
        pending = cls(work)
        with contextlib.suppress(Exception):
            pending.result()
        return pending

    @classmethod
    def failed(cls, error: Exception) -> Pending[Any]:
        def fail() -> Any:
            raise error

        return cls.settled(fail)

    def result(self) -> T:
        if self._finish is not None:
            finish, self._finish = self._finish, None
            try:
                self._value = finish()
            except Exception as error:
                self._error = error
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def then[U](self, convert: Callable[[T], U]) -> Pending[U]:
        """A pending answer that is ``convert`` of this one (an error passes through unconverted)."""
        return Pending(lambda: convert(self.result()))


_sender_lock = threading.Lock()
_sender_pool: ThreadPoolExecutor | None = None


def _sender() -> ThreadPoolExecutor:
    """The threads that wait on Voucherify for ``get_soon``; made on first use, so in each gunicorn
    worker after the fork. They only send and read: bookings, errors and logs stay with the caller."""
    global _sender_pool
    with _sender_lock:
        if _sender_pool is None:
            _sender_pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="voucherify")
        return _sender_pool


_on_written = threading.local()


def _request_written() -> None:
    event = getattr(_on_written, "event", None)
    if event is not None:
        event.set()


class _SignalsWhenWritten:
    """Tells ``get_soon``'s caller when the request is written and only the answer is awaited."""

    def getresponse(self, *args: Any, **kwargs: Any) -> urllib3.response.BaseHTTPResponse:
        _request_written()
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _SignallingHTTPConnection(_SignalsWhenWritten, urllib3.connection.HTTPConnection):
    pass


class _SignallingHTTPSConnection(_SignalsWhenWritten, urllib3.connection.HTTPSConnection):
    pass


class _SignallingHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _SignallingHTTPConnection


class _SignallingHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SignallingHTTPSConnection


class _SignallingAdapter(requests.adapters.HTTPAdapter):
    """requests' own adapter, whose connections signal ``_request_written`` (no other change)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _SignallingHTTPPool, "https": _SignallingHTTPSPool}


_local = threading.local()


class VoucherifyClient:
    """Talks to one Voucherify project; every call goes through ``_request``.

    Calls are bounded by ``total_timeout`` seconds including retries. Only GET/PUT/DELETE are
    retried (on connection errors, timeouts, 429, 502, 503 and 504) because a repeated POST could
    create or import twice.
    """

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_token: str,
        timeout: tuple[float, float] = (3.05, 10),
        total_timeout: float = 15,
        max_retries: int = 2,
        in_process: bool = False,
        backoff_factor: float = 0.5,
        background_total_timeout: float = 300,
        interactive_max_retry_wait: float = 2.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.app_token = app_token
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_retries = max_retries
        self.in_process = in_process
        self.backoff_factor = backoff_factor
        self.background_total_timeout = background_total_timeout
        self.interactive_max_retry_wait = interactive_max_retry_wait

    @property
    def session(self) -> requests.Session:
        """This thread's session for this configuration (sessions are not thread-safe)."""
        sessions = getattr(_local, "sessions", None)
        if sessions is None:
            sessions = _local.sessions = {}
        key = (self.base_url, self.app_id, self.app_token, self.in_process)
        if key not in sessions:
            sessions[key] = self._new_session()
        return sessions[key]

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update({"X-App-Id": self.app_id, "X-App-Token": self.app_token, "Accept": "application/json"})
        if self.in_process:
            from customers_app.services.inprocess import InProcessAdapter

            session.mount(self.base_url + "/", InProcessAdapter())
        else:
            # The environment's proxy and CA bundle, read once: with trust_env requests reads them,
            # and looks for a .netrc, on every call (about a tenth of its own time per call).
            session.trust_env = False
            session.proxies = requests.utils.get_environ_proxies(self.base_url)
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            session.mount(self.base_url + "/", _SignallingAdapter())
        return session

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, *, json: Any = None, files: dict[str, Any] | None = None) -> Any:
        return self._request("POST", path, json=json, files=files)

    def put(self, path: str, *, json: Any = None) -> Any:
        return self._request("PUT", path, json=json)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def get_soon(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Pending[Any]:
        """Sends a GET now and returns at once, so a page can render what does not depend on the
        answer while Voucherify works; ``result()`` then gives (or raises) what ``get`` would.
        ``parse`` reads a successful answer's bytes instead of the JSON decoder
        (``ListedCustomerPage.from_json``); it raises ValueError for a body it cannot read.

        The call is booked with the governor here, in the caller's thread. A worker thread does the
        HTTP exchange and then reads a successful answer (``parse`` must be a pure function of the
        bytes): it touches neither the database nor the caller's session, and a list of 100
        customers is built about a millisecond quicker where its bytes arrived than in another
        CPU's cache. The in-process sandbox answers in this thread, as ``get`` does: it runs inside
        this request.
        """
        started = time.monotonic()
        if self.in_process:
            return Pending.settled(lambda: self._request("GET", path, params=params, parse=parse))
        deadline = started + self._total_timeout()
        try:
            booking = self._book(deadline)
        except VoucherifyError as error:
            return Pending.failed(error)
        written = threading.Event()
        sending = _sender().submit(self._send_soon, written, path, params, deadline, parse)
        # Go on once the request is on the wire: the sending thread needs the interpreter to write
        # it, and a caller busy rendering would hold it for up to 5 ms at a time.
        written.wait(timeout=0.05)
        first = (started, booking, sending)
        return Pending(lambda: self._request("GET", path, params=params, parse=parse, first=first))

    def _send_soon(
        self,
        written: threading.Event,
        path: str,
        params,
        deadline: float,
        parse: Callable[[bytes], Any] | None,
    ) -> _Sent:
        """``get_soon``'s part on the sending thread: the exchange, then what a success makes."""
        _on_written.event = written
        try:
            response, error = self._send("GET", path, params, None, None, deadline)
        finally:
            _on_written.event = None
            written.set()  # also when it failed before writing anything
        made = None
        if response is not None and response.status_code < 400:
            try:
                made = _Made(_read(response, parse))
            except Exception:  # noqa: BLE001 - left to the caller's thread, which raises it as get would
                made = None
        return response, error, made

    def _total_timeout(self) -> float:
        in_background = budget.current_priority() == budget.BACKGROUND
        return max(self.total_timeout, self.background_total_timeout) if in_background else self.total_timeout

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: dict[str, Any] | None = None,
        parse: Callable[[bytes], Any] | None = None,
        first: tuple[float, budget.Decision, Future[_Sent]] | None = None,
    ) -> Any:
        """Send one logical call and return the decoded JSON (None for an empty body), or what
        ``parse`` reads from the body instead.

        ``first`` is an attempt already booked and on its way (``get_soon``): its start, booking
        and the exchange to wait for.

        Raises Unavailable (UpstreamTimeout), RateLimited, AuthError, NotFound or RequestError.
        """
        method = method.upper()
        started = first[0] if first else time.monotonic()
        in_background = budget.current_priority() == budget.BACKGROUND
        deadline = started + self._total_timeout()
        retryable_method = method in IDEMPOTENT_METHODS
        attempt = 0
        while True:
            attempt += 1
            made = None
            if first is not None and attempt == 1:
                booking, (response, cause, made) = first[1], first[2].result()
            else:
                booking = self._book(deadline)
                response, cause = self._send(method, path, params, json, files, deadline)
            if response is None:
                timed_out = isinstance(cause, requests.Timeout)
                error: VoucherifyError = (
                    UpstreamTimeout("Voucherify did not answer in time")
                    if timed_out
                    else Unavailable("Could not reach Voucherify")
                )
                wait = self._backoff(attempt)
            else:
                _record_rate_limit(response)
                _tell_governor(response, booking)
                if response.status_code < 400:
                    if made is not None:
                        self._log(method, path, response, started, attempt)
                        return made.value
                    try:
                        data = _read(response, parse)
                    except ValueError as exc:
                        self._log(method, path, response, started, attempt)
                        raise Unavailable(
                            "Voucherify sent an answer the dashboard cannot read"
                            if parse
                            else "Voucherify sent a response that is not JSON",
                            status=response.status_code,
                            request_id=response.headers.get("X-Request-Id"),
                        ) from exc
                    self._log(method, path, response, started, attempt)
                    return data
                error = _error_from_response(response)
                if response.status_code not in RETRY_STATUSES:
                    self._log(method, path, response, started, attempt, error=error)
                    raise error
                retry_after = _retry_after(response)
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if response.status_code == 429 and not in_background and wait > self.interactive_max_retry_wait:
                    # A page answers at once with when to retry rather than hang for the quota.
                    self._log(method, path, response, started, attempt, error=error)
                    raise error

            # Give up now rather than sleep past the deadline: the page must not hang.
            out_of_budget = wait >= deadline - time.monotonic()
            if not retryable_method or attempt > self.max_retries or out_of_budget:
                self._log(method, path, response, started, attempt, error=error)
                raise error from cause
            time.sleep(wait)

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        files: dict[str, Any] | None,
        deadline: float,
    ) -> _Exchange:
        """One HTTP exchange on this thread's session: the response, or the transport error instead.

        The prepared request goes straight to the session's adapter (its pool, proxy and CA bundle)
        rather than through ``Session.request``: the session's own round of cookie merging and
        extraction and redirect checks is a quarter of requests' time per call, and an API client
        keeps no cookies and follows no redirects anyway. The session's response hooks still run
        (``audit.capture_request_ids`` uses them).
        """
        remaining = max(deadline - time.monotonic(), 0.01)
        connect_timeout, read_timeout = self.timeout
        session = self.session
        try:
            prepared = requests.Request(
                method, self.base_url + path, headers=session.headers, params=params, json=json, files=files
            ).prepare()
            response = session.get_adapter(prepared.url).send(
                prepared,
                timeout=(min(connect_timeout, remaining), min(read_timeout, remaining)),
                verify=session.verify,
                proxies=session.proxies,
                cert=session.cert,
            )
            response.content  # noqa: B018 - read the body now, inside this try and this thread
        except requests.RequestException as exc:
            return None, exc
        return requests.hooks.dispatch_hook("response", session.hooks, response), None

    def stream_lines(self, url: str) -> Iterator[str]:
        """GET an absolute download URL (an export's ``result.url``) and yield its text line by line.

        The URL must be on this client's API or on Voucherify's download hosts: it carries its own
        token, so the application keys are not sent with it.
        """
        if not self._trusted_download_url(url):
            raise RequestError("Voucherify's download URL points at an unexpected host", details=urlsplit(url).netloc)
        started = time.monotonic()
        self._book(started + self.total_timeout)
        try:
            response = self.session.get(
                url,
                headers={"X-App-Id": None, "X-App-Token": None, "Accept": "text/plain"},
                # The session's proxies are the API host's; a download host has its own (or none).
                proxies=dict.fromkeys(self.session.proxies) | requests.utils.get_environ_proxies(url),
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise UpstreamTimeout("Voucherify did not answer in time") from exc
        except requests.RequestException as exc:
            raise Unavailable("Could not reach Voucherify") from exc
        route = ApiPath("/v1/exports/{}?token=…", "…")
        _record_rate_limit(response)
        if response.status_code >= 400:
            error = _error_from_response(response)
            self._log("GET", route, response, started, 1, error=error)
            raise error
        self._log("GET", route, response, started, 1)
        return _text_lines(response)

    def _trusted_download_url(self, url: str) -> bool:
        parts, api = urlsplit(url), urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) == (api.scheme, api.netloc) and parts.path.startswith(api.path + "/"):
            return True
        host = parts.hostname or ""
        download_host = host == "download.voucherify.io" or host.endswith(".download.voucherify.io")
        return parts.scheme == "https" and download_host

    def _book(self, deadline: float) -> budget.Decision:
        """Asks the governor for one call: a page is refused at once, background work waits for room."""
        decision = budget.acquire()
        if decision.allowed:
            return decision
        if budget.current_priority() == budget.BACKGROUND:
            try:
                return budget.wait_for_room(max_wait=max(0.0, deadline - time.monotonic()))
            except budget.Refused as refused:
                if refused.stopped:
                    raise  # the job was cancelled while it waited: not an upstream failure
                decision = refused.decision
        retry_at = datetime.fromtimestamp(decision.retry_at, UTC) if decision.retry_at else None
        raise RateLimited(
            "The Voucherify API budget is used up",
            retry_after=max(0.0, decision.retry_at - time.time()) if decision.retry_at else None,
            retry_at=retry_at,
            by_governor=True,
            status=429,
        )

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_SECONDS, self.backoff_factor * 2 ** (attempt - 1))

    def _log(
        self,
        method: str,
        path: str,
        response: requests.Response | None,
        started: float,
        attempts: int,
        *,
        error: VoucherifyError | None = None,
    ) -> None:
        """One line per call, with the route template instead of ids and no query values."""
        status = response.status_code if response is not None else None
        request_id = (error.request_id if error else None) or (
            response.headers.get("X-Request-Id") if response is not None else None
        )
        duration_ms = round((time.monotonic() - started) * 1000)
        level = logging.WARNING if error is not None or (status or 0) >= 400 else logging.INFO
        logger.log(
            level,
            "voucherify %s %s -> %s in %d ms (request_id=%s, attempts=%d)",
            method,
            getattr(path, "route", path),
            status if status is not None else type(error).__name__,
            duration_ms,
            request_id,
            attempts,
        )


def _text_lines(response: requests.Response) -> Iterator[str]:
    """The body as UTF-8 text lines, each ending in its ``\n`` (split on nothing else: a CSV cell may
    hold other line separators, and ``csv.reader`` joins quoted line breaks again)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    try:
        for chunk in response.iter_content(64 * 1024):
            *lines, pending = (pending + decoder.decode(chunk)).split("\n")
            for line in lines:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending
    finally:
        response.close()


def _read(response: requests.Response, parse: Callable[[bytes], Any] | None) -> Any:
    """A successful answer's body: what ``parse`` reads from its bytes, else its JSON."""
    return parse(response.content) if parse else _decode(response)


def _decode(response: requests.Response) -> Any:
    """The body's JSON (None when empty); raises ValueError when it is not JSON.

    orjson rather than ``response.json()``: a list of 100 customers decodes in a third of the time.
    """
    if response.status_code == 204 or not response.content:
        return None
    return orjson.loads(response.content)  # orjson.JSONDecodeError is a ValueError


def _error_from_response(response: requests.Response) -> VoucherifyError:
    """Builds the error for a 4xx/5xx from Voucherify's error body (or from the status alone)."""
    status = response.status_code
    try:
        body = _decode(response)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    # The 413 body has another shape: {"statusCode", "error", "message"}.
    message = body.get("message") or body.get("error") or response.reason or f"HTTP {status}"
    if not isinstance(message, str):
        message = str(message)
    details = body.get("details")
    custom = body.get("error")
    if isinstance(custom, dict) and custom.get("message"):
        details = f"{details} ({custom['message']})" if details else custom["message"]
    kwargs: dict[str, Any] = {
        "status": status,
        "code": body.get("code", body.get("statusCode")),
        "key": body.get("key"),
        "details": details,
        "request_id": body.get("request_id") or response.headers.get("X-Request-Id"),
    }
    error_class = error_class_for(status)
    if error_class is RateLimited:
        retry_at = _int_header(response, "X-Rate-Limit-Retry")
        return RateLimited(
            message,
            retry_after=_retry_after(response),
            retry_at=datetime.fromtimestamp(retry_at, UTC) if retry_at is not None else None,
            **kwargs,
        )
    if error_class is Unavailable and status == 504:
        return UpstreamTimeout(message, **kwargs)
    return error_class(message, **kwargs)


def get_client() -> VoucherifyClient:
    """The client configured by settings, built at call time so tests can point it elsewhere."""
    for name in ("VOUCHERIFY_API_URL", "VOUCHERIFY_APP_ID", "VOUCHERIFY_APP_TOKEN"):
        if not getattr(settings, name, ""):
            raise ImproperlyConfigured(f"{name} must be set to talk to Voucherify.")
    return VoucherifyClient(
        base_url=settings.VOUCHERIFY_API_URL,
        app_id=settings.VOUCHERIFY_APP_ID,
        app_token=settings.VOUCHERIFY_APP_TOKEN,
        timeout=(settings.VOUCHERIFY_CONNECT_TIMEOUT, settings.VOUCHERIFY_READ_TIMEOUT),
        total_timeout=settings.VOUCHERIFY_TOTAL_TIMEOUT,
        max_retries=settings.VOUCHERIFY_MAX_RETRIES,
        in_process=settings.VOUCHERIFY_IN_PROCESS,
        background_total_timeout=settings.VOUCHERIFY_BACKGROUND_TOTAL_TIMEOUT,
        interactive_max_retry_wait=settings.VOUCHERIFY_INTERACTIVE_MAX_RETRY_WAIT,
    )


def deep_object(name: str, value: Any) -> dict[str, Any]:
    """OpenAPI ``deepObject`` query encoding: ``{"a": {"b": "x"}}`` -> ``{"name[a][b]": "x"}``.

    Lists stay lists, which requests sends as repeated keys.
    """
    if isinstance(value, dict):
        params: dict[str, Any] = {}
        for key, nested in value.items():
            params.update(deep_object(f"{name}[{key}]", nested))
        return params
    return {name: value}

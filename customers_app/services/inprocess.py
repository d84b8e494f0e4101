"""A requests transport adapter that hands requests to this process's Django app instead of the network.

In sandbox mode the dashboard serves the sandbox API itself under ``/sandbox/``. Calling it over
HTTP would make a page wait for a second gunicorn worker, which may never come free when all
workers are busy rendering pages that are waiting for the sandbox. The adapter keeps the client
code path identical (same session, headers, errors) and only swaps the transport.
"""

from __future__ import annotations

import sys
from io import BytesIO
from urllib.parse import unquote_to_bytes, urlsplit

from django.core.handlers.wsgi import WSGIHandler
from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers


class NestedWSGIHandler(WSGIHandler):
    """Django's WSGI app minus what a request nested inside another request must not do.

    ``WSGIHandler.__call__`` sends ``request_started``/``request_finished``, whose receivers close
    the thread's database connections, and resets the script prefix: both belong to the page
    request that made this call and is still running on the same thread. Django's test client
    skips them for the same reason.
    """

    def __call__(self, environ, start_response):
        request = self.request_class(environ)
        response = self.get_response(request)
        status = f"{response.status_code} {response.reason_phrase}"
        headers = [*response.items(), *(("Set-Cookie", c.OutputString()) for c in response.cookies.values())]
        start_response(status, headers)
        if response.streaming:
            return _ClosingIterable(response)  # a file download stays a stream
        try:
            return [b"".join(response)]
        finally:
            for closer in response._resource_closers:
                closer()


class _ClosingIterable:
    """A streaming response's chunks, closing the response when the consumer is done (PEP 3333)."""

    def __init__(self, response):
        self.response = response

    def __iter__(self):
        return iter(self.response)

    def close(self) -> None:
        self.response.close()


class _IterableRaw:
    """A file-like ``raw`` for requests over a WSGI body iterable, so ``stream=True`` reads it lazily."""

    def __init__(self, iterable):
        self.iterable, self.chunks, self.buffer = iterable, iter(iterable), b""

    def read(self, amount: int | None = None, **_) -> bytes:
        while amount is None or len(self.buffer) < amount:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if amount is None:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:amount], self.buffer[amount:]
        return data

    def close(self) -> None:
        if hasattr(self.iterable, "close"):
            self.iterable.close()

    def release_conn(self) -> None:
        self.close()


class InProcessAdapter(BaseAdapter):
    """Serves requests with a WSGI application (by default this Django project), in this thread.

    Timeouts do not apply: there is no socket to wait on.
    """

    def __init__(self, app=None) -> None:
        super().__init__()
        self.app = app or NestedWSGIHandler()

    def send(self, request: PreparedRequest, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body_iterable = self.app(wsgi_environ(request), start_response)
        if stream:
            content = None
            raw = _IterableRaw(body_iterable)
        else:
            try:
                content = b"".join(body_iterable)
            finally:
                if hasattr(body_iterable, "close"):
                    body_iterable.close()

        code, _, reason = captured["status"].partition(" ")
        response = Response()
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(captured["headers"])
        response.encoding = get_encoding_from_headers(response.headers)
        if content is None:
            response.raw = raw
        else:
            response._content = content
            response._content_consumed = True
        response.url = request.url
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        pass


def wsgi_environ(request: PreparedRequest) -> dict:
    """The PEP 3333 environ a WSGI server would build for this prepared request."""
    url = urlsplit(request.url)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    https = url.scheme == "https"
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        # PEP 3333: PATH_INFO is decoded, with bytes carried as latin-1 (what gunicorn does).
        "PATH_INFO": unquote_to_bytes(url.path).decode("latin-1"),
        "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if https else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    return environ

"""Shared plumbing of the sandbox API: errors, auth, latency, ids, timestamps and parameter parsing."""

from __future__ import annotations

import ast
import functools
import hmac
import json
import logging
import re
import secrets
import string
import time
from datetime import UTC, date, datetime

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox import background, ratelimit

logger = logging.getLogger(__name__)

MAX_BULK_BYTES = 10 * 1024 * 1024
RATE_LIMITED_BODY = {"code": 429, "message": "Too many requests hit the API too quickly."}

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_ID_SHAPES = {
    "cust_": (_ALNUM, 24),
    "aa_": (_HEX, 18),
    "seg_": (_ALNUM, 24),
    "evcus_": (_HEX, 24),
    "rh_": (_HEX, 18),
    "del_": (_HEX, 24),
    "v_": (_ALNUM, 32),
    "camp_": (_ALNUM, 24),
    "v-": (_HEX, 18),
}


def new_id(prefix: str, rng=None) -> str:
    """A Voucherify-shaped id; pass a seeded ``random.Random`` for reproducible ids."""
    alphabet, length = _ID_SHAPES[prefix]
    if rng is not None:
        return prefix + "".join(rng.choices(alphabet, k=length))
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def now() -> datetime:
    """The current time cut to milliseconds, the precision timestamps are served with."""
    moment = timezone.now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime | None) -> str | None:
    """``2022-08-30T06:32:07.380Z``."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ApiError(Exception):
    """An error answered in Voucherify's error shape."""

    def __init__(self, status: int, key: str, message: str, details: str = "", **extra):
        super().__init__(message)
        self.status = status
        self.body = {"code": status, "key": key, "message": message, "details": details, **extra}

    def response(self, request_id: str) -> HttpResponse:
        return JsonResponse({**self.body, "request_id": request_id}, status=self.status)


class PayloadTooLarge(ApiError):
    """413 comes in the gateway's shape, not Voucherify's."""

    def __init__(self):
        super().__init__(413, "", "")

    def response(self, request_id: str) -> HttpResponse:
        message = f"Payload content length greater than maximum allowed: {MAX_BULK_BYTES}"
        return JsonResponse({"statusCode": 413, "error": "Request Entity Too Large", "message": message}, status=413)


def not_found(resource_type: str, resource_id: str) -> ApiError:
    return ApiError(
        404,
        "not_found",
        "Resource not found",
        f"Cannot find {resource_type} with id {resource_id}",
        resource_id=resource_id,
        resource_type=resource_type,
    )


def bad_query(details: str) -> ApiError:
    return ApiError(400, "invalid_query_params", "Invalid query params", details)


def bad_payload(details: str, key: str = "invalid_payload") -> ApiError:
    return ApiError(400, key, "Invalid payload", details)


def _authenticate(request) -> None:
    app_id = request.headers.get("X-App-Id", "")
    token = request.headers.get("X-App-Token", "")
    valid_id = hmac.compare_digest(app_id.encode(), settings.VOUCHERIFY_APP_ID.encode())
    valid_token = hmac.compare_digest(token.encode(), settings.VOUCHERIFY_APP_TOKEN.encode())
    if not (valid_id and valid_token):
        raise ApiError(401, "unauthorized", "Unauthorized", "Missing or invalid X-App-Id/X-App-Token headers")


def api_view(*methods: str, token_auth=None):
    """Make a view a sandbox endpoint: latency, auth, rate limit, methods, errors, request id, headers.

    ``HEAD`` is answered wherever ``GET`` is, like GET without a body. ``token_auth(request)`` marks
    requests that carry their own authorisation (export downloads: Voucherify serves them from its
    download host with a token), which then need no application keys and spend no API calls.
    """
    allowed = (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if settings.SANDBOX_LATENCY_MS > 0:
                time.sleep(settings.SANDBOX_LATENCY_MS / 1000)
            request.voucherify_request_id = new_id("v-")
            head = request.method == "HEAD" and "HEAD" not in methods
            verdict = None
            try:
                if token_auth is None or not token_auth(request):
                    _authenticate(request)
                    verdict = ratelimit.take(request.headers["X-App-Id"])
                    if verdict is not None and not verdict.allowed:
                        raise RateLimited()
                if request.method not in allowed:
                    raise ApiError(
                        405, "method_not_allowed", "Method not allowed", f"{request.method} is not supported"
                    )
                background.sweep_once()
                if head:
                    request.method = "GET"
                response = view(request, *args, **kwargs)
            except ApiError as error:
                response = error.response(request.voucherify_request_id)
                if error.status == 405:
                    response["Allow"] = ", ".join(allowed)
            except SuspiciousOperation as error:
                response = bad_payload(str(error)).response(request.voucherify_request_id)
            except Exception:
                # Clients always get Voucherify's error shape, even for a sandbox bug.
                logger.exception("sandbox request %s failed", request.voucherify_request_id)
                error = ApiError(500, "internal_error", "Internal server error", "The sandbox failed")
                response = error.response(request.voucherify_request_id)
            response["X-Request-Id"] = request.voucherify_request_id
            if verdict is not None:
                for name, value in verdict.headers().items():
                    response[name] = value
            return _without_body(response) if head else response

        return login_not_required(csrf_exempt(wrapper))

    return decorate


class RateLimited(ApiError):
    """429 in the documented shape: only ``code`` and ``message``."""

    def __init__(self):
        super().__init__(429, "", "")

    def response(self, request_id: str) -> HttpResponse:
        return JsonResponse(RATE_LIMITED_BODY, status=429)


def _without_body(response: HttpResponse) -> HttpResponse:
    """The GET response's status and headers, its length included, with no body (RFC 9110 HEAD)."""
    if response.streaming:
        head = HttpResponse(status=response.status_code)
        for name, value in response.items():
            head[name] = value
        response.close()
        return head
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)
    return response


def json_body(request, *, limit: int | None = None, empty=None):
    """The parsed JSON body (``empty`` when there is none); over ``limit`` bytes is 413, malformed JSON 400."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if limit is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge()
    try:
        raw = request.body
    except RequestDataTooBig as error:
        raise PayloadTooLarge() from error
    if limit is not None and len(raw) > limit:
        raise PayloadTooLarge()
    if not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise bad_payload(f"Malformed JSON body: {error}") from error


def parse_datetime(value: str, name: str) -> datetime:
    """ISO date or date-time as Voucherify and its SDK send them; naive means UTC."""
    text = value.strip()
    # A literal "+" in a query string arrives as a space: "...05.000 0000".
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise bad_query(f"{name} must be an ISO 8601 date or date-time, got {value!r}") from error


def datetime_param(params, name: str) -> datetime | None:
    value = params.get(name)
    return None if value is None or value == "" else parse_datetime(value, name)


def int_param(params, name: str, low: int, high: int, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    if not re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
        raise bad_query(f"{name} must be an integer between {low} and {high}")
    number = int(value)
    if not low <= number <= high:
        raise bad_query(f"{name} must be between {low} and {high}, got {number}")
    return number


def choice_param(params, name: str, choices, default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise bad_query(f"{name} must be one of: {', '.join(choices)}")
    return value


_FILTER_KEY = re.compile(r"filters((?:\[[^\[\]]*\])+)")


def _filter_values(raw: list[str]) -> list[str]:
    """Values of ``$in``-like conditions: repeated, comma-separated, or a JSON/Python list literal."""
    values: list[str] = []
    for item in raw:
        text = item.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except ValueError:
                try:
                    parsed = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    parsed = None
            if isinstance(parsed, list):
                values.extend(str(v) for v in parsed)
                continue
        values.extend(v for v in text.split(",") if v != "")
    return values


def filters_param(params, fields: dict[str, str]) -> Q:
    """deepObject ``filters[<field>][conditions][<op>]=…`` into a Q.

    ``fields`` maps a filter name to its column; ``created_at`` takes only ``$before``/``$after``, the others
    ``$in``, ``$not_in``, ``$is``, ``$is_not``, ``$has_value``, ``$is_unknown``, ``$starts_with`` and
    ``$ends_with``. ``filters[junction]`` (``and``/``or``) combines the fields.
    """
    conditions: dict[tuple[str, str], list[str]] = {}
    junction = "and"
    for key in params:
        if not key.startswith("filters"):
            continue
        match = _FILTER_KEY.fullmatch(key)
        if not match:
            raise bad_query(f"Malformed filter {key}")
        parts = re.findall(r"\[([^\[\]]*)\]", match.group(1))
        if parts == ["junction"]:
            junction = params.get(key, "").lower()
            if junction not in ("and", "or"):
                raise bad_query("filters[junction] must be and or or")
            continue
        field, rest = parts[0], parts[1:]
        if rest[:1] == ["conditions"]:
            rest = rest[1:]
        if field not in fields or not rest or any(p and not p.isdigit() for p in rest[1:]):
            raise bad_query(f"Unsupported filter {key}")
        conditions.setdefault((field, rest[0]), []).extend(params.getlist(key))
    combined = Q()
    for (field, op), raw in conditions.items():
        column = fields[field]
        values = _filter_values(raw)
        single = raw[-1]
        if (field == "created_at") != (op in ("$before", "$after")):
            raise bad_query(f"Unsupported condition {op} for filters[{field}]")
        if op == "$in":
            q = Q(**{f"{column}__in": values})
        elif op == "$not_in":
            q = ~Q(**{f"{column}__in": values})
        elif op == "$is":
            q = Q(**{column: single})
        elif op == "$is_not":
            q = ~Q(**{column: single})
        elif op == "$has_value":
            q = Q(**{f"{column}__isnull": False})
        elif op == "$is_unknown":
            q = Q(**{f"{column}__isnull": True})
        elif op == "$starts_with":
            q = Q(**{f"{column}__startswith": single})
        elif op == "$ends_with":
            q = Q(**{f"{column}__endswith": single})
        elif op in ("$before", "$after"):
            moment = parse_datetime(single, f"filters[{field}][conditions][{op}]")
            q = Q(**{f"{column}__{'lt' if op == '$before' else 'gt'}": moment})
        else:
            raise bad_query(f"Unsupported condition {op} for filters[{field}]")
        combined = (combined | q) if junction == "or" and combined else (combined & q)
    return combined

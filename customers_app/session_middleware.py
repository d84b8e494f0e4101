"""Idle sessions: a signed-in session's expiry moves with its use, written at most once a minute."""

from __future__ import annotations

import time

from django.conf import settings

REFRESHED_AT_KEY = "_idle_refreshed_at"  # Unix seconds of the last write of the session's expiry
REFRESH_SECONDS = 60


def refresh_interval() -> int:
    """How often a session in use gets its expiry moved: a minute, or less for a very short idle time."""
    return max(1, min(REFRESH_SECONDS, settings.SESSION_COOKIE_AGE // 10))


class IdleSessionMiddleware:
    """Ends a session ``SESSION_COOKIE_AGE`` (``SESSION_IDLE_SECONDS``) after its last request, within a minute.

    Django's ``SESSION_SAVE_EVERY_REQUEST`` does this with a database write on every request; here a
    request writes the session (moving its expiry and the cookie's max-age on) only when the last such
    write is a minute old, or when the session changed anyway. A session therefore ends between
    ``SESSION_COOKIE_AGE`` minus a minute and ``SESSION_COOKIE_AGE`` after its last request: never later.

    Place it right after SessionMiddleware, so the write it asks for is made by that middleware's response.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or not (session.modified or settings.SESSION_COOKIE_NAME in request.COOKIES):
            return response  # no session to keep alive (and none is created for an anonymous visit)
        refreshed_at = session.get(REFRESHED_AT_KEY)  # loads it if the request did not
        if session.is_empty():
            return response  # expired, unknown or flushed at logout
        now = int(time.time())
        stale = refreshed_at is None or not 0 <= now - refreshed_at < refresh_interval()
        if stale or session.modified:
            session[REFRESHED_AT_KEY] = now  # marks it modified: SessionMiddleware saves it with a new expiry
        return response

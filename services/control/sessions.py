"""Logins of the ops page: the operator types a token once (``POST /login``), the server
answers with a random session id in an ``HttpOnly; SameSite=Strict`` cookie, so the token
is never in a URL, a page, a log line or the browser's history. A session has the role of the
token it was opened with (``ops`` may send commands, ``read`` may only look) and a CSRF value
that every form of the page carries back. Sessions live in memory: a restarted control API
asks for the token again."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass

COOKIE = "fleet_session"


@dataclass(frozen=True)
class Session:
    id: str
    role: str  # "ops" or "read"
    csrf: str  # hidden field of every form; checked on each POST
    expires: float

    def csrf_matches(self, given: object) -> bool:
        return (
            isinstance(given, str)
            and given.isascii()
            and hmac.compare_digest(given.encode(), self.csrf.encode())
        )


class Sessions:
    def __init__(self, ttl_s: float = 8 * 3600, limit: int = 1000) -> None:
        self.ttl_s, self.limit = ttl_s, limit
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, role: str, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        session = Session(
            secrets.token_urlsafe(32), role, secrets.token_urlsafe(24), now + self.ttl_s
        )
        with self._lock:
            self._expire(now)
            while len(self._sessions) >= self.limit:  # oldest first
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None, now: float | None = None) -> Session | None:
        if not session_id:
            return None
        now = time.time() if now is None else now
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.expires <= now:
                self._sessions.pop(session_id, None)
                return None
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if s.expires <= now]:
            del self._sessions[sid]

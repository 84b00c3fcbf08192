"""Who is signed in and what they may do, asked of the API server itself.

The dashboard never decides access on its own: TokenReview tells who a bearer token
belongs to, and a SubjectAccessReview per (user, verb, resource, namespace, name) tells
whether that user may do it, so a user sees and does exactly what their RBAC allows.
The dashboard's own identity creates the reviews; the user's token is kept only in the
server's memory (the browser holds a random session id) and is reviewed again after
``REVIEW_TTL`` seconds so that a revoked or expired token ends the session.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lightkube import Client
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

REVIEW_TTL = 60.0  # seconds a TokenReview answer stands before the token is reviewed again
DECISION_TTL = 10.0  # seconds a SubjectAccessReview answer is reused for the same question
ENDED_KEPT = 1000  # sessions ended by a failed review whose reason is kept for their next view


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""


@dataclass(frozen=True)
class Ask:
    """One question for SubjectAccessReview: may the user `verb` `resource`?"""

    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""


class SignInError(Exception):
    """The token was refused; the message says why (shown on the sign-in page)."""


@dataclass
class Session:
    token: str
    user: User
    csrf: str
    reviewed: float


@dataclass
class Access:
    """TokenReview and SubjectAccessReview through the dashboard's own client."""

    client: Client
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, Session] = field(default_factory=dict)
    _ended: dict[str, str] = field(default_factory=dict)  # session id -> why review ended it
    _decisions: dict[tuple[User, Ask], tuple[bool, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def review(self, token: str) -> User:
        """The user a bearer token belongs to; SignInError with the server's reason."""
        token = token.strip()
        if not token:
            raise SignInError("no token given")
        answer = self.client.create(TokenReview(spec=TokenReviewSpec(token=token)))
        status = answer.status
        if status is None or not status.authenticated or status.user is None:
            reason = (status.error if status is not None else "") or "token not accepted"
            raise SignInError(f"token refused: {reason}")
        info = status.user
        return User(info.username or "", tuple(info.groups or ()), info.uid or "")

    def sign_in(self, token: str) -> str:
        """A new session id for a valid token."""
        user = self.review(token)
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = Session(token, user, secrets.token_urlsafe(32), self.clock())
        return sid

    def sign_out(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def session(self, sid: str) -> Session:
        """The live session of `sid`; SignInError when there is none or its token no
        longer passes TokenReview."""
        with self._lock:
            found = self._sessions.get(sid)
            ended = self._ended.pop(sid, "") if found is None else ""
        if found is None:
            raise SignInError(ended or "please sign in")
        if self.clock() - found.reviewed > REVIEW_TTL:
            try:
                user = self.review(found.token)
            except SignInError as err:
                self.sign_out(sid)
                with self._lock:  # the next view of this session says why it ended
                    self._ended[sid] = str(err)
                    while len(self._ended) > ENDED_KEPT:
                        self._ended.pop(next(iter(self._ended)))
                raise
            found.user, found.reviewed = user, self.clock()
        return found

    def allowed(self, user: User, ask: Ask) -> bool:
        """SubjectAccessReview's answer for `user`, reused for DECISION_TTL seconds."""
        now = self.clock()
        with self._lock:
            cached = self._decisions.get((user, ask))
        if cached is not None and now - cached[1] < DECISION_TTL:
            return cached[0]
        review = SubjectAccessReview(spec=SubjectAccessReviewSpec(
            user=user.name,
            groups=list(user.groups),
            uid=user.uid or None,
            resourceAttributes=ResourceAttributes(
                verb=ask.verb, group=ask.group, resource=ask.resource,
                namespace=ask.namespace or None, name=ask.name or None,
            ),
        ))
        answer = self.client.create(review)
        allowed = bool(answer.status and answer.status.allowed)
        with self._lock:
            self._decisions[(user, ask)] = (allowed, now)
        return allowed

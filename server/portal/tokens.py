"""Signed, expiring rating links: one click in the "completed" mail rates the task, with
no login. A token is `payload.signature`, both base64url: the payload is a msgspec-encoded
claim (task, who may rate, expiry) and the signature an HMAC-SHA256 of it under a key
derived from NARYAD_SECRET_KEY. Changing any byte, or reusing the token for another
task, breaks the signature or the task check; an old token is refused by its expiry."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import msgspec

from server.lib.errors import DomainError

TOKEN_TTL = dt.timedelta(days=7)
_PURPOSE = b"naryad.rating-link.v1"


class RatingClaim(msgspec.Struct, frozen=True):
    task_id: int
    user_id: int | None
    contact_id: int | None
    exp: int  # unix seconds


class TokenInvalid(DomainError):
    status_code = 401


class TokenExpired(DomainError):
    status_code = 410


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RatingClaim)


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    secret: str,
    task_id: int,
    *,
    user_id: int | None = None,
    contact_id: int | None = None,
    now: dt.datetime,
) -> str:
    exp = int((now + TOKEN_TTL).timestamp())
    payload = _b64(_encoder.encode(RatingClaim(task_id, user_id, contact_id, exp)))
    signature = _b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def genuine_claim(secret: str, token: str) -> RatingClaim | None:
    """The claim of a token we signed, whatever its task and expiry; None for anything
    else. For reading who a link was meant for (the page's language), never for rating."""
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        return _decoder.decode(_unb64(payload))
    except (ValueError, msgspec.DecodeError):
        return None


def verify(secret: str, token: str, task_id: int, *, now: dt.datetime) -> RatingClaim:
    """The claim of a genuine, unexpired token for `task_id`; else TokenInvalid (401) or
    TokenExpired (410)."""
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())
    # bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise TokenInvalid("portal.rating_link_not_valid")
    try:
        claim = _decoder.decode(_unb64(payload))
    except (ValueError, msgspec.DecodeError) as exc:
        raise TokenInvalid("portal.rating_link_not_valid_2") from exc
    if claim.task_id != task_id:
        raise TokenInvalid("portal.rating_link_not_task", task_id=task_id)
    if now.timestamp() > claim.exp:
        raise TokenExpired("portal.rating_link_expired_links")
    return claim

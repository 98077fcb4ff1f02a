from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
Comment = Annotated[str, msgspec.Meta(max_length=4000)]


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    score: Score
    comment: Comment | None = None


class SignOffIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: Literal["accept", "dispute"]
    comment: Comment = ""


class SignOffOut(msgspec.Struct):
    task_id: int
    decision: str  # accepted | disputed
    comment: str
    signer_name: str
    at: dt.datetime


class CsatRow(msgspec.Struct):
    id: int | None
    name: str
    ratings: int
    average: float
    # CSAT as helpdesks count it: the share of 4s and 5s, in percent.
    satisfied_percent: float


class CsatOut(msgspec.Struct):
    ratings: int
    average: float | None
    satisfied_percent: float | None
    by_engineer: list[CsatRow]
    by_group: list[CsatRow]
    by_counterparty: list[CsatRow]

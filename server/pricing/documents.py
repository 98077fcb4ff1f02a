"""Work orders and completion acts of a task: built from the database, rendered by printing/,
kept with the task in task_documents.

A stored document is keyed by a hash of everything it shows plus the renderer itself
(templates, fonts, code, WeasyPrint's version). Asking for a form whose data did not change
serves the stored PDF without rendering; any change — a specification line, a signature, the
completed works, a new template — gives a new hash, so a fresh PDF is rendered and stored next
to the old ones. Rendering is deterministic, so the hash also identifies the bytes (ETag).

`ensure_documents(task_id)` is the job entry point (a visit marked done): idempotent, it
renders and stores only what is missing.

The forms print the client's side of the work: the counterparty, the site and its address,
and the client's contact person — the task's requester contact, never the employee who
typed the task in. A completion act states that work was done, so it is issued only for
done or completed tasks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import version as distribution_version
from typing import Any, Final, get_args

import msgspec

from printing.documents import (
    ChecklistLine,
    ClientSignOff,
    Company,
    EquipmentLine,
    Language,
    Signature,
    SpecLine,
    TaskDocument,
)
from printing.paths import PACKAGE_ROOT
from printing.render import KINDS, Kind, RenderTimeout, render_async
from server.clients.tables import Contact, Counterparty
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, DomainError, InvalidInput, NotFound
from server.maintenance import checklists
from server.portal import service as portal
from server.pricing import service, signatures
from server.pricing.tables import StoredDocument
from server.settings import Settings
from server.settings import current as current_settings
from server.tasks import service as tasks
from server.tasks.schemas import TaskOut
from server.tasks.statuses import Status

LANGUAGES: Final[tuple[str, ...]] = get_args(Language)
_SHORT = 500  # printing.documents.ShortText
_LONG = 20_000  # printing.documents.LongText
# A completion act says the work was done: only these tasks get one.
ACT_STATUSES: Final[frozenset[str]] = frozenset({Status.DONE, Status.COMPLETED})


class PrintUnavailable(DomainError):
    """The print worker did not finish in time: overloaded, worth retrying later."""

    status_code = 503


class DocumentConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What a form needs beyond the task: the app's address (for the QR link) and the
    print settings."""

    public_url: str
    print_settings: Settings

    @classmethod
    def current(cls) -> DocumentConfig:
        settings = current_settings()
        return cls(public_url=settings.public_url, print_settings=settings)


class RenderedDocument(msgspec.Struct, frozen=True, kw_only=True):
    pdf: bytes
    content_hash: str
    filename: str


class StoredDocumentOut(msgspec.Struct, frozen=True, kw_only=True):
    task_id: int
    kind: str
    language: str
    content_hash: str
    size: int
    # False when a stored document already matched the data (nothing was rendered).
    created: bool


# --- building --------------------------------------------------------------------------


def _clip(text: str | None, limit: int = _SHORT) -> str:
    """Fit a database text into the form's field limit (a site address is unbounded)."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_link(public_url: str, task_id: int) -> str:
    """The task in the PWA, printed as the QR code."""
    return f"{public_url.rstrip('/')}/#/tasks/{task_id}"


class ClientContact(msgspec.Struct, frozen=True):
    name: str = ""
    phone: str = ""


async def client_contact(task: TaskOut) -> ClientContact:
    """The client's contact person: the requester contact. A task an employee typed in
    without one prints none (the typist is not the client's contact)."""
    if task.requester is None or task.requester.kind != "contact":
        return ClientContact()
    row = (
        await Contact.select(Contact.name, Contact.phone)
        .where(Contact.id == task.requester.id)
        .first()
    )
    if row is None:
        return ClientContact()
    return ClientContact(name=row["name"] or "", phone=row["phone"] or "")


async def build_document(task: TaskOut, language: Language, config: DocumentConfig) -> TaskDocument:
    """Everything the forms print about ``task``, read from the database now."""
    company = config.print_settings
    lines = []
    for r in await service.line_rows(task.id):
        priced = service.priced_line(r)
        lines.append(
            SpecLine(
                name=_clip(r["name"]),
                unit=r["unit"],
                quantity=priced.quantity,
                price=priced.price,
                discount_percent=priced.discount_percent,
                vat_rate=priced.vat_rate,
                performer=_clip(r["performer.full_name"]) if r["performer.full_name"] else None,
            )
        )
    signed = await signatures.signature_row(task.id)
    sign_off = await portal.latest_sign_off(task.id)
    contact = await client_contact(task)
    return TaskDocument(
        company=Company(
            name=_clip(company.company_name),
            address=_clip(company.company_address),
            phone=_clip(company.company_phone),
            inn=_clip(company.company_inn),
            email=_clip(company.company_email),
        ),
        number=task.number,
        title=_clip(task.title),
        description=_clip(task.description, _LONG),
        created_at=task.created_at,
        accepted_at=task.accepted_at,
        arrived_at=task.arrived_at,
        done_at=task.done_at,
        counterparty=_clip(task.counterparty.name if task.counterparty else ""),
        site_name=_clip(task.site.name if task.site else ""),
        site_address=_clip(task.site.address if task.site else ""),
        contact_name=_clip(contact.name),
        contact_phone=_clip(contact.phone),
        assignee=_clip(task.assignee.full_name if task.assignee else ""),
        completed_works=_clip(task.completed_works, _LONG),
        lines=lines,
        signature=Signature(
            png=bytes(signed["png"]),
            signer_name=_clip(signed["signer_name"]),
            signed_at=signed["signed_at"],
        )
        if signed
        else None,
        sign_off=ClientSignOff(
            decision="accepted" if sign_off.decision == "accepted" else "disputed",
            signer_name=_clip(sign_off.signer_name),
            at=sign_off.at,
            comment=_clip(sign_off.comment, _LONG),
        )
        if sign_off
        else None,
        link_url=task_link(config.public_url, task.id),
        language=language,
        timezone=company.print_timezone,
        equipment=[
            EquipmentLine(kind=_clip(e.kind), model=_clip(e.model), serial=_clip(e.serial))
            for e in task.equipment
        ],
        checklist=[
            ChecklistLine(text=_clip(i.text), required=i.required, value=_clip(_printed(i.value)))
            for i in (await checklists.task_checklist_unchecked(task.id)).items
        ],
    )


def _printed(value: Any) -> str:
    """A checklist value as printed: a tick, a number, a text, a photo's number."""
    if value is None or value is False:
        return ""
    if value is True:
        return "✓"
    return str(value)


@cache
def renderer_fingerprint() -> str:
    """A hash of what turns data into PDF bytes: printing/'s code, templates and fonts, and
    WeasyPrint's version. A new release of any of them renders stored documents afresh."""
    # The installed version, read without importing WeasyPrint (a stored form is served
    # without loading it).
    digest = hashlib.sha256(f"weasyprint {distribution_version('weasyprint')}\0".encode())
    for path in sorted(PACKAGE_ROOT.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".html", ".css", ".ttf"}:
            digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


_encoder = msgspec.json.Encoder()


def content_hash(kind: Kind, doc: TaskDocument) -> str:
    digest = hashlib.sha256(f"{renderer_fingerprint()}\0{kind}\0".encode())
    digest.update(_encoder.encode(doc))
    return digest.hexdigest()


# --- storing ---------------------------------------------------------------------------


async def _stored_pdf(task_id: int, kind: Kind, language: str, digest: str) -> bytes | None:
    row = (
        await StoredDocument.select(StoredDocument.pdf)
        .where(
            (StoredDocument.task == task_id)
            & (StoredDocument.kind == kind)
            & (StoredDocument.language == language)
            & (StoredDocument.content_hash == digest)
        )
        .first()
    )
    return None if row is None else bytes(row["pdf"])


async def _ensure_one(
    task: TaskOut, kind: Kind, language: Language, config: DocumentConfig
) -> tuple[bytes, str, bool]:
    """(pdf, content hash, rendered now?) for the task's current data.

    Deliberately outside a transaction: a render takes a while, and on SQLite a transaction
    would hold the database's write lock for all of it. Two requests rendering the same data
    at once both render; the unique index keeps one row."""
    doc = await build_document(task, language, config)
    digest = content_hash(kind, doc)
    pdf = await _stored_pdf(task.id, kind, language, digest)
    if pdf is not None:
        return pdf, digest, False
    try:
        pdf = await render_async(kind, doc, timeout_s=config.print_settings.print_timeout_s)
    except RenderTimeout as exc:
        raise PrintUnavailable(
            "pricing.task_did_not_render",
            value=kind.replace("_", " "),
            task_number=task.number,
            print_timeout_s=f"{config.print_settings.print_timeout_s:g}",
        ) from exc
    await StoredDocument.insert(
        StoredDocument(
            task=task.id,
            kind=kind,
            language=language,
            content_hash=digest,
            pdf=pdf,
            size=len(pdf),
            created_at=clock.now(),
        )
    ).on_conflict(action="DO NOTHING")
    return pdf, digest, True


async def client_language(task: TaskOut) -> Language:
    """Documents are in the language of the task's counterparty (Russian without one)."""
    if task.counterparty is None:
        return "ru"
    row = (
        await Counterparty.select(Counterparty.language)
        .where(Counterparty.id == task.counterparty.id)
        .first()
    )
    return parse_language(row["language"] if row else None)


def parse_language(lang: str | None) -> Language:
    value = (lang or "ru").strip().lower()
    if value not in LANGUAGES:
        raise InvalidInput("pricing.lang_must_one_got", languages=", ".join(LANGUAGES), lang=lang)
    return value  # type: ignore[return-value]


async def task_pdf(
    actor: Actor, task_id: int, kind: Kind, lang: str | None, config: DocumentConfig
) -> RenderedDocument:
    """The form for the caller (404 if they cannot see the task): the stored PDF when the
    data did not change since it was rendered, else a fresh one, stored for next time."""
    task = await tasks.get_task(actor, task_id)
    if kind == "completion_act" and task.status not in ACT_STATUSES:
        raise Conflict(
            "pricing.task_completion_act_issued", task_number=task.number, status=task.status
        )
    language = parse_language(lang) if lang else await client_language(task)
    pdf, digest, _ = await _ensure_one(task, kind, language, config)
    return RenderedDocument(
        pdf=pdf,
        content_hash=digest,
        filename=f"{kind.replace('_', '-')}-{task.number}-{language}.pdf",
    )


async def ensure_documents(
    task_id: int,
    *,
    kinds: Iterable[Kind] = KINDS,
    languages: Iterable[Language] | None = None,
    config: DocumentConfig | None = None,
) -> list[StoredDocumentOut]:
    """Render and store the task's forms whose data changed since they were last stored.

    For the job run when a visit is done (or its data change). Idempotent: with unchanged data
    it renders nothing and adds no row; a task that no longer exists is a no-op."""
    config = config or DocumentConfig.current()
    try:
        task = await tasks.get_task_unchecked(task_id)
    except NotFound:
        return []
    result = []
    for kind in kinds:
        if kind == "completion_act" and task.status not in ACT_STATUSES:
            continue  # no act before the work is done
        for language in languages or [await client_language(task)]:
            pdf, digest, created = await _ensure_one(task, kind, language, config)
            result.append(
                StoredDocumentOut(
                    task_id=task_id,
                    kind=kind,
                    language=language,
                    content_hash=digest,
                    size=len(pdf),
                    created=created,
                )
            )
    return result

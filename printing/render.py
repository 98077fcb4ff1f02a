"""Print forms: a TaskDocument in, PDF bytes out. No database, no network.

Public API:

* :func:`render_work_order`, :func:`render_completion_act` — synchronous, in the calling thread;
* :func:`render` — the same by kind, optionally with a time limit;
* :func:`render_async` — for request handlers: renders in the print worker thread and raises
  :class:`RenderTimeout` when the time limit passes.

Output is deterministic: identical documents give identical bytes (no "now" anywhere, the PDF
identifier is a hash of the content, fonts are the bundled ones), so a reprint can be compared
or cached by hash.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal
from zoneinfo import ZoneInfo

from printing.documents import Language, TaskDocument
from printing.labels import LABELS
from printing.paths import PACKAGE_ROOT
from printing.qr import qr_png
from printing.totals import Pricing, price_lines

if TYPE_CHECKING:
    # WeasyPrint (with cffi, Pango and fontTools) takes ~0.3 s and ~27 MB to import: the
    # first render loads it (see _ThreadResources), not the server's start.
    import jinja2
    from weasyprint import CSS

    from printing.fetcher import BundledOnlyFetcher

log = logging.getLogger(__name__)

Kind = Literal["work_order", "completion_act"]
KINDS: Final[tuple[Kind, ...]] = ("work_order", "completion_act")

TEMPLATES_DIR: Final = PACKAGE_ROOT / "templates"
STYLESHEET: Final = TEMPLATES_DIR / "shared" / "print.css"
DEFAULT_TIMEOUT_S: Final = 20.0

_NBSP = "\u00a0"
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class RenderTimeout(Exception):
    """The render did not finish within its time limit."""


@functools.cache
def harfbuzz_subset_available() -> bool:
    """Without libharfbuzz-subset (Debian: libharfbuzz-subset0) WeasyPrint subsets fonts with
    fontTools, which is several times slower and stamps the current time into each embedded
    font, so identical documents would no longer give identical bytes. Loads WeasyPrint."""
    try:
        from weasyprint.text.ffi import harfbuzz_subset
    except ImportError:  # a WeasyPrint that moved its internals: assume the fallback
        return False
    available = harfbuzz_subset is not None
    if not available:
        log.warning("libharfbuzz-subset is missing: print forms are slower and not reproducible")
    return available


def __getattr__(name: str) -> Any:
    # HARFBUZZ_SUBSET_AVAILABLE is asked for when needed: answering it loads WeasyPrint.
    if name == "HARFBUZZ_SUBSET_AVAILABLE":
        return harfbuzz_subset_available()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- HTML -----------------------------------------------------------------------------------


@functools.cache
def _env() -> jinja2.Environment:
    # Made on first render: a server that prints nothing does not load Jinja at start-up.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Every value is escaped unless a template says otherwise, and none of ours does for
        # user data: titles, descriptions and completed works are shown as typed, never as
        # markup.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code; checking their mtimes on every render is wasted work.
        auto_reload=False,
    )


def build_html(kind: Kind, doc: TaskDocument) -> str:
    """The HTML of a form; exposed for debugging and for tests of escaping."""
    if kind not in KINDS:
        raise ValueError(f"unknown print form {kind!r}")
    lang = doc.language
    labels = LABELS[lang]
    pricing = price_lines(doc.lines)
    zone = ZoneInfo(doc.timezone)
    issued = doc.issued_at or (doc.done_at if kind == "completion_act" else None) or doc.created_at
    heading = f"{labels[kind]} {labels['number_sign']}{_NBSP}{doc.number}"

    def when(value: dt.datetime | None) -> str:
        return _format_datetime(value, zone, lang)

    context: dict[str, Any] = {
        "doc": doc,
        "L": labels,
        "lang": lang,
        "heading": heading,
        # PDF metadata: a plain space, the non-breaking one is only for the printed line.
        "title": heading.replace(_NBSP, " "),
        "issued_date": _format_date(issued, zone, lang),
        "pdf_created": _local(issued, zone).isoformat(timespec="seconds"),
        "rows": list(zip(doc.lines, pricing.lines, strict=True)),
        "totals": pricing.totals,
        "has_discount": any(line.discount_percent for line in doc.lines),
        "cols": _spec_column_widths(doc, pricing, lang),
        "qr_uri": _png_data_uri(qr_png(doc.link_url)) if doc.link_url else None,
        "signature_uri": _png_data_uri(doc.signature.png) if doc.signature else None,
        "when": when,
        "money": lambda value: _format_money(value, lang),
        "number": lambda value: _format_number(value, lang),
    }
    return _env().get_template(f"{kind}/document.html").render(context)


# Specification column widths, in mm. A digit of the 7.5pt table font is ~1.7 mm wide; a cell
# adds 2.4 mm of padding plus its border. Minimums fit the header labels and everyday amounts.
_DIGIT_MM = 1.7
_CELL_PADDING_MM = 2.6
_MIN_COLUMN_MM = {
    "no": 7.0,
    "unit": 9.5,
    "qty": 11.5,
    "price": 16.0,
    "discount": 14.5,
    "amount": 18.0,
    "vat_rate": 12.5,
    "vat": 16.0,
}


def _spec_column_widths(doc: TaskDocument, pricing: Pricing, lang: Language) -> dict[str, str]:
    """Numeric columns as wide as their longest value, so amounts in the millions still fit
    on one line; the name column gets what is left of the page."""
    longest = {
        "no": [str(len(doc.lines))],
        "qty": [_format_number(line.quantity, lang) for line in doc.lines],
        "price": [_format_money(line.price, lang) for line in doc.lines],
        "amount": [_format_money(a.total, lang) for a in pricing.lines],
        "vat": [_format_money(a.vat, lang) for a in pricing.lines],
    }
    widths = dict(_MIN_COLUMN_MM)
    for column, texts in longest.items():
        chars = max((len(text) for text in texts), default=0)
        widths[column] = max(widths[column], chars * _DIGIT_MM + _CELL_PADDING_MM)
    return {column: f"{width:.1f}" for column, width in widths.items()}


def _png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _local(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    # Naive datetimes are taken as already local (the server stores aware ones anyway); they
    # get the zone attached so the PDF creation date carries a proper offset.
    return value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone)


def _format_datetime(value: dt.datetime | None, zone: ZoneInfo, lang: Language) -> str:
    if value is None:
        return ""
    value = _local(value, zone)
    return f"{_format_date(value, zone, lang)} {value:%H:%M}"


def _format_date(value: dt.datetime, zone: ZoneInfo, lang: Language) -> str:
    value = _local(value, zone)
    if lang == "ru":
        return f"{value:%d.%m.%Y}"
    # Month names from a tuple, not strftime('%b'): that one follows the process locale.
    return f"{value.day}{_NBSP}{_EN_MONTHS[value.month - 1]}{_NBSP}{value.year}"


def _format_money(value: Decimal, lang: Language) -> str:
    text = f"{value:,.2f}"
    if lang == "ru":
        # 12 345,67 with a non-breaking space, so an amount never wraps inside a cell.
        return text.replace(",", _NBSP).replace(".", ",")
    return text


def _format_number(value: Decimal, lang: Language) -> str:
    """Quantities and percents without trailing zeros: 2, 1,5, 12,25."""
    text = f"{value.normalize():f}" if value else "0"
    return text.replace(".", ",") if lang == "ru" else text


# --- PDF ------------------------------------------------------------------------------------


class _ThreadResources:
    """Per-thread WeasyPrint state that is expensive to rebuild on every render.

    Parsing the stylesheet and registering the bundled fonts with fontconfig would add ~25 ms
    to every render; WeasyPrint's FontConfiguration is not meant to be shared between threads,
    so each thread that renders keeps its own.
    """

    def __init__(self) -> None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        from printing.fetcher import BundledOnlyFetcher

        harfbuzz_subset_available()  # logs once if fonts will be subset the slow way
        self.font_config = FontConfiguration()
        self.fetcher = BundledOnlyFetcher()
        self._base = CSS(
            filename=str(STYLESHEET), url_fetcher=self.fetcher, font_config=self.font_config
        )
        self._by_language: dict[Language, list[CSS]] = {}

    def stylesheets(self, lang: Language) -> list[CSS]:
        sheets = self._by_language.get(lang)
        if sheets is None:
            from weasyprint import CSS

            page_css = CSS(
                string=_page_footer_css(lang),
                url_fetcher=self.fetcher,
                font_config=self.font_config,
            )
            sheets = self._by_language[lang] = [self._base, page_css]
        return sheets


def _page_footer_css(lang: Language) -> str:
    """'Стр. 1 из 2' / 'Page 1 of 2' in the page footer, from the language's labels."""
    labels = LABELS[lang]
    return (
        "@page { @bottom-right { content: "
        f"{_css_string(labels['page'] + ' ')} counter(page) "
        f"{_css_string(' ' + labels['of'] + ' ')} counter(pages); }} }}"
    )


def _css_string(text: str) -> str:
    escaped = "".join(ch if ch.isalnum() or ch in " .,-" else f"\\{ord(ch):06x}" for ch in text)
    return f'"{escaped}"'


_local_state = threading.local()


def _resources() -> _ThreadResources:
    resources: _ThreadResources | None = getattr(_local_state, "resources", None)
    if resources is None:
        resources = _local_state.resources = _ThreadResources()
    return resources


def render(
    kind: Kind,
    doc: TaskDocument,
    *,
    timeout_s: float | None = None,
    url_fetcher: BundledOnlyFetcher | None = None,
) -> bytes:
    """PDF bytes of the form ``kind`` for ``doc``.

    With ``timeout_s`` the render runs in the print worker thread and RenderTimeout is raised
    when it has not finished in time (see render_async for what that does and does not stop).
    ``url_fetcher`` lets a caller inspect which resources the render asked for.
    """
    if timeout_s is None:
        return _render_pdf(kind, doc, url_fetcher)
    future = _submit(kind, doc, url_fetcher)
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout as exc:
        future.cancel()
        raise RenderTimeout(f"{kind} render exceeded {timeout_s:g} s") from exc


def render_work_order(doc: TaskDocument) -> bytes:
    """The work order («заказ-наряд») as PDF bytes."""
    return render("work_order", doc)


def render_completion_act(doc: TaskDocument) -> bytes:
    """The completion act («акт выполненных работ») as PDF bytes."""
    return render("completion_act", doc)


async def render_async(
    kind: Kind, doc: TaskDocument, timeout_s: float = DEFAULT_TIMEOUT_S
) -> bytes:
    """Render off the event loop, in the print worker thread, within ``timeout_s`` seconds.

    The time limit covers queueing and rendering. On RenderTimeout the caller is free at
    once and a render still queued is dropped; one already running cannot be interrupted (no
    thread can be killed) and finishes in the background. That is bounded because a
    TaskDocument is bounded (MAX_LINES lines, length limits on every text), so a timeout means
    an overloaded worker, not a render that runs forever.
    """
    future = asyncio.wrap_future(_submit(kind, doc, None))
    try:
        return await asyncio.wait_for(future, timeout_s)
    except TimeoutError as exc:
        raise RenderTimeout(f"{kind} render exceeded {timeout_s:g} s") from exc


def _render_pdf(kind: Kind, doc: TaskDocument, url_fetcher: BundledOnlyFetcher | None) -> bytes:
    html = build_html(kind, doc)
    resources = _resources()  # loads WeasyPrint on the first render in this process
    from weasyprint import HTML

    from printing.fetcher import BundledOnlyFetcher

    pdf = HTML(
        string=html,
        # Relative URLs in a template resolve inside the package; the fetcher refuses the rest.
        base_url=TEMPLATES_DIR.as_uri() + "/",
        url_fetcher=url_fetcher or BundledOnlyFetcher(),
    ).write_pdf(
        stylesheets=resources.stylesheets(doc.language),
        font_config=resources.font_config,
        # True: the /ID is an MD5 of the file's content, stable for identical input (the
        # default writes none; some viewers and archivers want one).
        pdf_identifier=True,
    )
    assert isinstance(pdf, bytes)
    return pdf


# One worker: WeasyPrint is CPU-bound Python under the GIL, so more threads would not render
# faster, only multiply the per-thread font state and compete with the event loop.
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _submit(kind: Kind, doc: TaskDocument, url_fetcher: BundledOnlyFetcher | None) -> Future[bytes]:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="naryad-print")
        executor = _executor
    return executor.submit(_render_pdf, kind, doc, url_fetcher)

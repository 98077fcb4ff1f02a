"""What the channels do when the directory changes under them."""

from __future__ import annotations

from server.channels.tables import IntakeTask
from server.clients.events import ContactsMerged
from server.lib.events import subscribe


@subscribe(ContactsMerged)
async def contact_merged(event: ContactsMerged) -> None:
    """Mail tasks of the duplicate are the survivor's: apply-counterparty finds them there."""
    await IntakeTask.update({IntakeTask.contact: event.into_contact_id}).where(
        IntakeTask.contact == event.from_contact_id
    )

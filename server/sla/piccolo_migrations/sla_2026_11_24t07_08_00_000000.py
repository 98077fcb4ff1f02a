"""Unique keys of the SLA tables and the default R10 automations of every template.

Defaults come from the support-desk configuration (seeds/support-desk-configuration.ru.txt):
all of them for remote support. A field visit's engineer is on the road for hours, so only
"not accepted in 30 min" and "done but not checked in 3 days" apply to it by default; other
templates get the first. Every one is editable data; this only inserts missing rows.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-11-24T07:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sla keys and default automations"

INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS sla_fired_once ON sla_fired (task, kind, occurrence)",
    "CREATE UNIQUE INDEX IF NOT EXISTS sla_automations_kind ON sla_automations (template, kind)",
    "CREATE UNIQUE INDEX IF NOT EXISTS sla_calendar_days_day ON sla_calendar_days (calendar, day)",
    "CREATE INDEX IF NOT EXISTS tasks_status_changed ON tasks (status, status_changed_at)",
]
# kind, minutes
KINDS = [
    ("unaccepted_notify", 30),
    ("no_reply_release", 15),
    ("public_reply_waiting", None),
    ("client_reply_resume", None),
    ("in_progress_remind", 120),
    ("in_progress_notify", 180),
    ("done_autocomplete", 3 * 24 * 60),
]
ENABLED = {
    "remote_support": {k for k, _ in KINDS},
    "field_visit": {"unaccepted_notify", "done_autocomplete"},
}


async def seed() -> None:
    db = engine_finder()
    assert db is not None
    for sql in INDEXES:
        await db.run_ddl(sql)
    templates = await db.run_querystring(QueryString("SELECT id, code FROM task_templates"))
    for template in templates:
        enabled = ENABLED.get(template["code"], {"unaccepted_notify"})
        for kind, minutes in KINDS:
            await db.run_querystring(
                QueryString(
                    "INSERT INTO sla_automations (template, kind, enabled, minutes) "
                    "VALUES ({}, {}, {}, {}) ON CONFLICT (template, kind) DO NOTHING",
                    template["id"], kind, kind in enabled, minutes,
                )
            )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="sla", description=DESCRIPTION)
    manager.add_raw(seed)
    return manager

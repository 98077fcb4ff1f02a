"""The demo's mail catcher (issue 15): dev_mail.

Hand-written: the table below is a frozen copy of server/devmail/tables.py as of this
migration.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Text, Timestamptz, Varchar
from piccolo.table import Table

ID = "2026-11-28T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mail catcher"


class DevMail(Table, tablename="dev_mail"):
    notification_id = Varchar(length=40, default="")
    sender = Varchar(length=320)
    recipient = Varchar(length=320)
    subject = Text()
    message_id = Varchar(length=320, default="")
    body_text = Text(default="")
    body_html = Text(default="")
    created_at = Timestamptz()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="devmail", description=DESCRIPTION)
    for table in (DevMail,):
        name, tablename = table.__name__, table._meta.tablename
        manager.add_table(class_name=name, tablename=tablename)
        for column in table._meta.non_default_columns:
            manager.add_column(
                table_class_name=name,
                tablename=tablename,
                column_name=column._meta.name,
                db_column_name=column._meta.db_column_name,
                column_class=type(column),
                params=dict(column._meta.params),
            )
    return manager

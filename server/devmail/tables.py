from piccolo.columns import Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class DevMail(Table, tablename="dev_mail"):
    """A message the demo would have sent: headers and both bodies, as built for SMTP."""

    id: Serial
    notification_id = Varchar(length=40, default="")
    sender = Varchar(length=320)
    recipient = Varchar(length=320)
    subject = Text()
    message_id = Varchar(length=320, default="")
    body_text = Text(default="")
    body_html = Text(default="")
    created_at = Timestamptz()

import os

from piccolo.conf.apps import AppConfig

from server.channels.tables import (
    ImapMessage,
    InboundMail,
    IntakeTask,
    MailAddress,
    MailAttachment,
    TelegramChat,
    TelegramPollOffset,
    TelegramUpdate,
)

APP_CONFIG = AppConfig(
    app_name="channels",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        TelegramChat,
        TelegramUpdate,
        MailAddress,
        InboundMail,
        MailAttachment,
        IntakeTask,
        ImapMessage,
        TelegramPollOffset,
    ],
    migration_dependencies=[
        "server.clients.piccolo_app",
        "server.accounts.piccolo_app",
        "server.tasks.piccolo_app",
    ],
)

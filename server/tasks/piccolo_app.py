import os

from piccolo.conf.apps import AppConfig

from server.tasks.tables import (
    Comment,
    IdempotencyKey,
    RefusalReason,
    Task,
    TaskEvent,
    TaskWatcher,
    Template,
)

APP_CONFIG = AppConfig(
    app_name="tasks",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        Template,
        Task,
        TaskEvent,
        Comment,
        TaskWatcher,
        IdempotencyKey,
        RefusalReason,
    ],
    migration_dependencies=["server.clients.piccolo_app", "server.accounts.piccolo_app"],
)

import os

from piccolo.conf.apps import AppConfig

from server.attachments.tables import TaskAttachment

APP_CONFIG = AppConfig(
    app_name="attachments",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[TaskAttachment],
    migration_dependencies=["server.accounts.piccolo_app", "server.tasks.piccolo_app"],
)

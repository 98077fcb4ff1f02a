import os

from piccolo.conf.apps import AppConfig

from server.portal.tables import SignOff, TaskRating

APP_CONFIG = AppConfig(
    app_name="portal",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[TaskRating, SignOff],
    migration_dependencies=[
        "server.accounts.piccolo_app",
        "server.clients.piccolo_app",
        "server.tasks.piccolo_app",
    ],
)

import os

from piccolo.conf.apps import AppConfig

from server.devmail.tables import DevMail

APP_CONFIG = AppConfig(
    app_name="devmail",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[DevMail],
    migration_dependencies=[],
)

import os

from piccolo.conf.apps import AppConfig

from server.dispatch.tables import EngineerDispatch, EngineerPosition, GeocodeCache

APP_CONFIG = AppConfig(
    app_name="dispatch",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[GeocodeCache, EngineerPosition, EngineerDispatch],
    migration_dependencies=["server.accounts.piccolo_app", "server.clients.piccolo_app"],
)

import os

from piccolo.conf.apps import AppConfig

from server.accounts.tables import AuthToken, Group, Membership, User

APP_CONFIG = AppConfig(
    app_name="accounts",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Group, User, Membership, AuthToken],
    migration_dependencies=["server.clients.piccolo_app"],
)

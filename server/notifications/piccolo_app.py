import os

from piccolo.conf.apps import AppConfig

from server.notifications.tables import Notification, NotificationPreference, PushSubscription

APP_CONFIG = AppConfig(
    app_name="notifications",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[NotificationPreference, PushSubscription, Notification],
    migration_dependencies=[
        "server.clients.piccolo_app",
        "server.accounts.piccolo_app",
        "server.tasks.piccolo_app",
    ],
)

import os

from piccolo.conf.apps import AppConfig

from server.feed.tables import FeedItem

APP_CONFIG = AppConfig(
    app_name="feed",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[FeedItem],
    migration_dependencies=["server.accounts.piccolo_app", "server.tasks.piccolo_app"],
)

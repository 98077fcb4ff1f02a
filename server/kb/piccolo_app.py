import os

from piccolo.conf.apps import AppConfig

from server.kb.tables import Article, TaskArticle

APP_CONFIG = AppConfig(
    app_name="kb",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Article, TaskArticle],
    migration_dependencies=["server.accounts.piccolo_app", "server.tasks.piccolo_app"],
)

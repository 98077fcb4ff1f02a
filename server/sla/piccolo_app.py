import os

from piccolo.conf.apps import AppConfig

from server.sla.tables import Automation, Calendar, CalendarDay, Fired, Rule

APP_CONFIG = AppConfig(
    app_name="sla",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Calendar, CalendarDay, Rule, Automation, Fired],
    migration_dependencies=[
        "server.clients.piccolo_app",
        "server.accounts.piccolo_app",
        "server.tasks.piccolo_app",
    ],
)

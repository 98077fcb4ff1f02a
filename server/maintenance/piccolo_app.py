import os

from piccolo.conf.apps import AppConfig

from server.maintenance.tables import (
    MaintenanceOccurrence,
    MaintenancePlan,
    TaskChecklistItem,
    TemplateChecklistItem,
)

APP_CONFIG = AppConfig(
    app_name="maintenance",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        MaintenancePlan,
        MaintenanceOccurrence,
        TemplateChecklistItem,
        TaskChecklistItem,
    ],
    migration_dependencies=[
        "server.clients.piccolo_app",
        "server.accounts.piccolo_app",
        "server.tasks.piccolo_app",
        "server.sla.piccolo_app",
        "server.assets.piccolo_app",
    ],
)

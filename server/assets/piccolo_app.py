import os

from piccolo.conf.apps import AppConfig

from server.assets.tables import Equipment, EquipmentKind, TaskEquipment

APP_CONFIG = AppConfig(
    app_name="assets",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[EquipmentKind, Equipment, TaskEquipment],
    migration_dependencies=["server.clients.piccolo_app", "server.tasks.piccolo_app"],
)

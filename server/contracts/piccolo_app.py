import os

from piccolo.conf.apps import AppConfig

from server.contracts.tables import Contract, ContractTask, LabourEntry

APP_CONFIG = AppConfig(
    app_name="contracts",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Contract, ContractTask, LabourEntry],
    migration_dependencies=[
        "server.clients.piccolo_app",
        "server.accounts.piccolo_app",
        "server.tasks.piccolo_app",
        "server.sla.piccolo_app",
    ],
)

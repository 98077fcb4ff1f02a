import os

from piccolo.conf.apps import AppConfig

from server.pricing.tables import (
    PriceItem,
    SpecificationLine,
    SpecificationUnlock,
    StoredDocument,
    TaskSignature,
)

APP_CONFIG = AppConfig(
    app_name="pricing",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        PriceItem,
        SpecificationLine,
        SpecificationUnlock,
        TaskSignature,
        StoredDocument,
    ],
    migration_dependencies=["server.accounts.piccolo_app", "server.tasks.piccolo_app"],
)

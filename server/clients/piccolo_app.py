import os

from piccolo.conf.apps import AppConfig

from server.clients.tables import Contact, Counterparty, CounterpartyName, CounterpartyWord, Site

APP_CONFIG = AppConfig(
    app_name="clients",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Counterparty, CounterpartyName, CounterpartyWord, Contact, Site],
    migration_dependencies=[],
)

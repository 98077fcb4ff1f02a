"""Naryad: field-service management backend."""

import os

# Piccolo looks up its configuration module by this name; ours builds the engine
# from NARYAD_DATABASE_URL and is re-pointed at runtime by server.db.configure_database.
os.environ.setdefault("PICCOLO_CONF", "server.piccolo_conf")

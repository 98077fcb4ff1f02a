"""A minimal Django project around django-helpdesk for bench/helpdesk_bench.py.

Only settings, URLs and a data-setup script live here; django-helpdesk itself is installed
from PyPI into var/bench-helpdesk-venv by the benchmark."""

"""WSGI entry point for gunicorn."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their modules) lives as long as the worker: moved out
# of the collector's way, a full collection scans only what requests create (tens of ms less at p99).
gc.freeze()

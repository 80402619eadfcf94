"""The WSGI entry point of Synnefo 0.19 (`synnefo.webproject.wsgi`), which
gunicorn in `wsgi` mode names as the last item of its args."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synnefo.settings")
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

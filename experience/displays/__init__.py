"""Event display screens (现场大屏): screens with secret links, their scenes and playlists,
the organiser's console, and the protocol a screen speaks (models.py explains the records,
feed.py the protocol)."""

from flask import Blueprint

bp = Blueprint("displays", __name__)

# Importing them registers the displays' rule with core.permissions and their answers to
# a withdrawn work, an edited event and a moderated rating (the signals of those below).
from experience.displays import permissions, screens  # noqa: E402,F401

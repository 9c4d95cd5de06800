"""The public works platform (网络平台): the selected works of the campaign, open to
anyone from the start of their 公示, with no login and no personal data."""

from flask import Blueprint

bp = Blueprint("platform", __name__)

from flask import Blueprint

bp = Blueprint("accounts", __name__, cli_group=None)

# Importing these registers the role rules and the login on every request.
from experience.accounts import permissions, session  # noqa: E402,F401

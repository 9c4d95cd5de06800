from flask import Blueprint

bp = Blueprint("reports", __name__, cli_group=None)

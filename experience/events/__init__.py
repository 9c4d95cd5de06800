from flask import Blueprint

bp = Blueprint("events", __name__)

from flask import Blueprint

bp = Blueprint("guests", __name__)

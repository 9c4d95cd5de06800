from flask import Blueprint

bp = Blueprint("ratings", __name__)

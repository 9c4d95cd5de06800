"""Unguessable codes for links anyone may hold (an invitation, a walk-in poster)."""

import secrets


def new_code() -> str:
    """128 random bits, URL-safe (22 characters), never derived from anything."""
    return secrets.token_urlsafe(16)

"""Who may do what. One function decides; views, forms, templates and queries all ask it.

``can(user, permission, obj)`` is the only place a role is judged. It knows no
capability: each capability registers the rules for its own permissions with
``@rule("name")`` in its ``permissions.py`` (imported by the capability's package), so
core stays below every capability and a rule lives beside the records it protects. An
unknown permission name is a programming error (``ValueError``), never a silent "no".

Province isolation is the rule that matters most: provincial staff and organisers only
ever reach rows of their own province. A refusal on a record answers 404 (the record
"does not exist" for them) and is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, request
from flask_login import current_user

from experience.core import audit, clock
from experience.extensions import db

#: permission name → rule(user, obj) -> bool, registered by the capabilities
_RULES: dict[str, Callable[[Any, Any], bool]] = {}


def rule(*names: str):
    """Register the decorated ``fn(user, obj) -> bool`` as the rule of each permission."""

    def decorator(fn):
        for name in names:
            if name in _RULES:
                raise RuntimeError(f"permission {name!r} has two rules")
            _RULES[name] = fn
        return fn

    return decorator


def permissions() -> list[str]:
    return sorted(_RULES)


def can(user, permission: str, obj=None) -> bool:
    """The single access rule. ``permission`` names an action; ``obj`` the record."""
    check = _RULES.get(permission)
    if check is None:
        raise ValueError(permission)
    if user is None or not user.is_authenticated or not user.active:
        return False
    return bool(check(user, obj))


def client_ip() -> str:
    return request.remote_addr or ""


def deny(target_type: str, target_id, **detail):
    """Refuse access to a record: log it (bounded per user and minute, see
    audit.record_refusal) and answer 404 as if it did not exist."""
    db.session.rollback()  # write in a fresh transaction (see _tune_sqlite)
    audit.record_refusal(
        now=clock.now(),
        actor=current_user,
        target_type=target_type,
        target_id=str(target_id),
        ip=client_ip(),
        province_code=None,
        path=request.path,
        **detail,
    )
    db.session.commit()
    abort(404)


def load(model, ident, permission: str):
    """Load a record by id, or deny: a missing row and a forbidden one look the same."""
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    if not can(current_user, permission, obj):
        deny(model.__tablename__, ident, permission=permission)
    return obj


def require(permission: str):
    """Decorator for views that need a role-level permission (no record)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not can(current_user, permission):
                abort(403)  # the 403 handler writes the audit entry
            return view(*args, **kwargs)

        return wrapped

    return decorator

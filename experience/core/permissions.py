"""Who may do what. One function decides; views and queries both ask it.

Province isolation is the rule that matters most: provincial staff and organisers only
ever reach rows of their own province. A refusal on a record answers 404 (the record
"does not exist" for them) and is written to the audit log.
"""

from __future__ import annotations

from functools import wraps

import sqlalchemy as sa
from flask import abort, request
from flask_login import current_user

from experience.accounts.models import Role, User
from experience.core import audit, clock
from experience.extensions import db


def client_ip() -> str:
    return request.remote_addr or ""


def can(user: User, permission: str, obj=None) -> bool:
    """The single access rule. ``permission`` names an action; ``obj`` the record."""
    if user is None or not user.is_authenticated or not user.active:
        return False
    role = user.role
    if permission == "hq":
        return role is Role.HQ
    if permission == "administer_accounts":
        return role in (Role.HQ, Role.PROVINCE)
    if permission == "create_event":
        return role in (Role.PROVINCE, Role.ORGANIZER)
    if permission in ("view_event", "edit_event"):
        if role is Role.HQ:
            return permission == "view_event"
        if role not in (Role.PROVINCE, Role.ORGANIZER) or obj.province_code != user.province_code:
            return False
        if role is Role.ORGANIZER:
            return any(o.id == user.id for o in obj.organizers)
        return True
    if permission == "view_plan":
        return role is Role.HQ or (role is Role.PROVINCE and obj.province_code == user.province_code)
    raise ValueError(permission)


def visible_events(user: User, stmt):
    """Narrow a select of events to those ``user`` may see."""
    from experience.events.models import Event, event_organizer

    if user.role is Role.HQ:
        return stmt
    if user.role is Role.PROVINCE:
        return stmt.where(Event.province_code == user.province_code)
    if user.role is Role.ORGANIZER:
        return stmt.where(
            Event.province_code == user.province_code,
            Event.id.in_(sa.select(event_organizer.c.event_id).where(event_organizer.c.user_id == user.id)),
        )
    return stmt.where(sa.false())


def deny(target_type: str, target_id, **detail):
    """Refuse access to a record: log it and answer 404 as if it did not exist."""
    db.session.rollback()  # write in a fresh transaction (see _tune_sqlite)
    audit.record(
        "access.denied",
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

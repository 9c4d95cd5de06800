"""Column helpers shared by the capabilities' models."""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import MappedColumn, mapped_column


def enum_column(name: str, enum_class: type[enum.Enum], *, length: int = 20, **kw: Any) -> MappedColumn[Any]:
    """A column holding ``enum_class``'s values as text, with ``CHECK (name IN (...))``.

    Stored as VARCHAR on every engine, never as a PostgreSQL enum type, so that adding a
    value is one migration that replaces the CHECK. The CHECK is named
    ``ck_<table>_<name>`` (the Enum's name feeds the naming convention's
    ``constraint_name``), which is why the column's name is passed here: column and
    constraint cannot drift apart. tests/test_schema.py compares every CHECK in the
    database with its enum, so a value added without a migration fails the suite.

    :param name: the column's name (also the attribute's, as everywhere in our models)
    """
    return mapped_column(
        name,
        sa.Enum(
            enum_class,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=length,
            values_callable=lambda e: [m.value for m in e],
        ),
        **kw,
    )

"""Shared helpers used by every capability: clock, audit, permissions, uploads, errors."""

import sys

import click

from experience.accounts import bp, services
from experience.accounts.models import STAFF_ROLES, Role
from experience.core import clock
from experience.core.errors import RuleError
from experience.extensions import db


@bp.cli.command("create-user")
@click.option("--username", required=True)
# units register themselves (a submitter belongs to a unit: /units/register)
@click.option("--role", required=True, type=click.Choice([r.value for r in STAFF_ROLES]))
@click.option("--province", "province_code", default=None, help="GB/T 2260 code, e.g. 11; 66 for XPCC")
@click.option("--name", "display_name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username, role, province_code, display_name, password_stdin):
    """Create an account (the first HQ account of a production install)."""
    if not password_stdin:
        raise click.UsageError("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = services.create_user(
            username=username,
            password=password,
            role=Role(role),
            province_code=province_code,
            display_name=display_name,
            now=clock.now(),
        )
    except RuleError as e:
        db.session.rollback()
        raise click.ClickException(f"{e.code}: {e}") from e
    db.session.commit()
    click.secho(f"created {user.username} ({user.role.value})", fg="green")

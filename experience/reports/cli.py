import click
import sqlalchemy as sa

from experience.campaigns.models import Campaign
from experience.core import clock, uploads
from experience.core.errors import RuleError
from experience.extensions import db
from experience.reports import bp, services


@bp.cli.command("purge-personal-data")
@click.option("--campaign", "year", required=True, type=int, help="The campaign's year, e.g. 2024.")
def purge_personal_data(year):
    """Anonymise the campaign's guests and delete their photos, after the retention date."""
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.year == year))
    if campaign is None:
        raise click.ClickException(f"no campaign {year}")
    try:
        result = services.purge_personal_data(campaign, now=clock.now())
    except RuleError as e:
        db.session.rollback()
        raise click.ClickException(f"{e.code}: {e}") from e
    db.session.commit()
    files = services.delete_purged_files(result["keys"])
    click.secho(
        f"campaign {year}: {result['guests']} guests anonymised, {result['photos']} photos deleted, "
        f"{files['previews']} import previews and {files['swept']} unreferenced files removed",
        fg="green",
    )


@bp.cli.command("sweep-uploads")
def sweep_uploads():
    """Delete stored files no record points to (older than an hour), and expired import previews."""
    removed = uploads.sweep()
    click.secho(f"{len(removed)} files removed", fg="green")

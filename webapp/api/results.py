"""Results: a sequence's funnel per step (the campaign's are in api/campaigns.py)."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.schemas.common import ID_PATH
from webapp.schemas.results import SequenceStats
from webapp.services import results

bp = APIBlueprint("results", __name__, tag="Sequences", url_prefix="/api")


@bp.get(f"/sequences/<{ID_PATH}:sequence_id>/stats")
@bp.output(SequenceStats)
def sequence_stats(sequence_id: int):
    """Per step: audience, queued, sent, delivered, read, replied, failed by class, expired,
    skipped, opted out and rates over sent; the sequence's totals and contacts by status."""
    with db.transaction() as conn:
        return results.sequence_stats(conn, auth.current_user_id(), sequence_id)

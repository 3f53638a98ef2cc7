"""Conversations: one lead's messages both ways, the inbox of leads that wrote in, mark read."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.schemas.common import ID_PATH
from webapp.schemas.conversations import (
    Conversation,
    ConversationQuery,
    Inbox,
    InboxQuery,
    MarkedRead,
)
from webapp.services import conversations

bp = APIBlueprint("conversations", __name__, tag="Conversations", url_prefix="/api")
LEAD = f"/leads/<{ID_PATH}:lead_id>"
BAD_CURSOR = {422: "`before` is not a cursor of this list (give next_before of the previous "
                   "page), or `limit` is out of 1..500"}


@bp.get(f"{LEAD}/conversation")
@bp.input(ConversationQuery, location="query", arg_name="query")
@bp.output(Conversation)
@bp.doc(responses=BAD_CURSOR)
def get_conversation(lead_id: int, query):
    """One lead's messages both ways (ours with status and receipts), newest first."""
    with db.transaction() as conn:
        return conversations.conversation(conn, auth.current_user_id(), lead_id,
                                          query["limit"], query.get("before"))


@bp.get("/inbox")
@bp.input(InboxQuery, location="query", arg_name="query")
@bp.output(Inbox)
@bp.doc(responses=BAD_CURSOR)
def get_inbox(query):
    """One row per lead that wrote in: its latest message and unread count, newest first."""
    with db.transaction() as conn:
        return conversations.inbox(conn, auth.current_user_id(), query["limit"],
                                   query.get("before"))


@bp.post(f"{LEAD}/read")
@bp.output(MarkedRead)
def mark_read(lead_id: int):
    """Mark the lead's inbound messages read (the inbox's unread count drops to 0)."""
    with db.transaction() as conn:
        return conversations.mark_read(conn, auth.current_user_id(), lead_id)

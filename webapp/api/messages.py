"""Messages: one-off sends (POST), the message list and one message with its timeline."""

from apiflask import APIBlueprint
from flask import current_app

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH
from webapp.schemas.messages import IdempotencyIn, Message, MessageIn, MessageList, MessageQuery
from webapp.services import messages

bp = APIBlueprint("messages", __name__, tag="Messages", url_prefix="/api/messages")
ONE = f"/<{ID_PATH}:message_id>"
FILTERS = ("lead_id", "campaign_id", "sequence_id", "status")
_MESSAGE = {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}
SEND_RESPONSES = {
    200: {"description": "The Idempotency-Key was used before: the message it queued then",
          "content": _MESSAGE},
    409: "The lead opted out, or no usable device (none online, or every one holds "
         "QUEUE_BUFFER_SIZE queued messages)",
    422: "A field is invalid: lead_id / phone (give one), body or caption template, media, "
         "media_id or device_id that is not yours",
}


@bp.post("")
@bp.input(MessageIn, arg_name="body")
@bp.input(IdempotencyIn, location="headers", arg_name="headers")
@bp.output(Message, status_code=201, description="Queued")
@bp.doc(responses=SEND_RESPONSES)
def send_message(body, headers):
    """Queue one message to a lead, by id or phone.

    Device choice, delays, caps, quiet hours and opt-out apply as to every message."""
    settings = current_app.config["SETTINGS"]
    region = (body.pop("region", None) or current_app.config["DEFAULT_REGION"]).upper()
    media_url = body.pop("media", None)
    values = {**body, "media_url": media_url}
    with db.transaction() as conn:
        message, created = messages.send_message(
            conn, auth.current_user_id(), values, region, settings.queue_buffer_size,
            headers.get("idempotency_key"))
    return message, 201 if created else 200


@bp.get("")
@bp.input(MessageQuery, location="query", arg_name="query")
@bp.output(MessageList)
def list_messages(query):
    """The user's messages, newest first, by lead, campaign, sequence or status."""
    with db.transaction() as conn:
        items = messages.list_messages(
            conn, auth.current_user_id(), query["limit"], query.get("before"),
            **{name: query.get(name) for name in FILTERS})
    return page(items, query["limit"], "next_before")


@bp.get(ONE)
@bp.output(Message)
def get_message(message_id: int):
    """One message with its timeline (queued, sent, failed with its error and class)."""
    with db.transaction() as conn:
        return messages.get_message(conn, auth.current_user_id(), message_id)

"""The seed's sequence endpoints (same paths and methods), plus contact removal and logs."""

from apiflask import APIBlueprint
from flask import current_app

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH, Deleted, PageQuery
from webapp.schemas.sequences import (
    ContactList,
    ContactQuery,
    ContactResumed,
    ContactsAdded,
    ContactsIn,
    LogList,
    LogQuery,
    SequenceDetail,
    SequenceIn,
    SequenceList,
)
from webapp.services import sequences

bp = APIBlueprint("sequences", __name__, tag="Sequences", url_prefix="/api/sequences")
ONE = f"/<{ID_PATH}:sequence_id>"


def _step_in(step: dict) -> dict:
    return {**step, "media_url": step.pop("media", None)}


def _body(body: dict) -> dict:
    if body.get("steps") is not None:
        body["steps"] = [_step_in(step) for step in body["steps"]]
    return body


@bp.get("")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(SequenceList)
def list_sequences(query):
    """The user's sequences."""
    with db.transaction() as conn:
        items = sequences.list_sequences(conn, auth.current_user_id(), query["limit"],
                                         query["after"])
    return page(items, query["limit"])


@bp.post("")
@bp.input(SequenceIn, arg_name="body")
@bp.output(SequenceDetail, status_code=201)
def create_sequence(body):
    """Create a draft sequence with its steps."""
    with db.transaction() as conn:
        return sequences.create_sequence(conn, auth.current_user_id(), _body(body)), 201


@bp.get(ONE)
@bp.output(SequenceDetail)
def get_sequence(sequence_id: int):
    """One sequence with its steps."""
    with db.transaction() as conn:
        return sequences.get_sequence(conn, auth.current_user_id(), sequence_id)


@bp.put(ONE)
@bp.input(SequenceIn, arg_name="body")
@bp.output(SequenceDetail)
def update_sequence(sequence_id: int, body):
    """Replace a sequence; `steps`, when given, replaces the steps (no duplicates)."""
    with db.transaction() as conn:
        return sequences.update_sequence(conn, auth.current_user_id(), sequence_id, _body(body))


@bp.delete(ONE)
@bp.output(Deleted, status_code=204)
def delete_sequence(sequence_id: int):
    """Delete a sequence; messages still waiting are cancelled."""
    with db.transaction() as conn:
        sequences.delete_sequence(conn, auth.current_user_id(), sequence_id)
    return ""


@bp.post(f"{ONE}/contacts")
@bp.input(ContactsIn, arg_name="body")
@bp.output(ContactsAdded)
def add_contacts(sequence_id: int, body):
    """Enrol leads by id or phone (unknown phones become leads)."""
    region = (body["region"] or current_app.config["DEFAULT_REGION"]).upper()
    with db.transaction() as conn:
        return sequences.add_contacts(conn, auth.current_user_id(), sequence_id,
                                      body["lead_ids"], body["phones"], region)


@bp.get(f"{ONE}/contacts")
@bp.input(ContactQuery, location="query", arg_name="query")
@bp.output(ContactList)
def list_contacts(sequence_id: int, query):
    """Contacts with status, day x of N and next due time."""
    with db.transaction() as conn:
        items = sequences.list_contacts(conn, auth.current_user_id(), sequence_id,
                                        query["limit"], query["after"], query["status"])
    return page(items, query["limit"])


@bp.delete(f"{ONE}/contacts/<{ID_PATH}:contact_id>")
@bp.output(Deleted, status_code=204)
def remove_contact(sequence_id: int, contact_id: int):
    """Remove a contact from the sequence."""
    with db.transaction() as conn:
        sequences.remove_contact(conn, auth.current_user_id(), sequence_id, contact_id)
    return ""


@bp.post(f"{ONE}/contacts/<{ID_PATH}:contact_id>/resume")
@bp.output(ContactResumed)
@bp.doc(responses={409: "The contact is not paused"})
def resume_contact(sequence_id: int, contact_id: int):
    """Resume a contact that a reply paused (a sequence with on_reply: pause): it is active
    again, a step that fell due meanwhile is queued by the next tick, and its held messages are
    queued again unless the sequence itself is paused."""
    with db.transaction() as conn:
        return sequences.resume_contact(conn, auth.current_user_id(), sequence_id, contact_id)


@bp.post(f"{ONE}/start")
@bp.output(SequenceDetail)
@bp.doc(responses={409: "The sequence has no steps"})
def start_sequence(sequence_id: int):
    """Activate: enrolment and sending go on; held messages are queued again."""
    with db.transaction() as conn:
        return sequences.start_sequence(conn, auth.current_user_id(), sequence_id)


@bp.post(f"{ONE}/pause")
@bp.output(SequenceDetail)
@bp.doc(responses={409: "The sequence is a draft"})
def pause_sequence(sequence_id: int):
    """Pause: nothing more is queued, queued messages are held."""
    with db.transaction() as conn:
        return sequences.pause_sequence(conn, auth.current_user_id(), sequence_id)


@bp.get(f"{ONE}/logs")
@bp.input(LogQuery, location="query", arg_name="query")
@bp.output(LogList)
def list_logs(sequence_id: int, query):
    """What was queued / sent / failed for each contact and day, newest first."""
    with db.transaction() as conn:
        items = sequences.list_logs(conn, auth.current_user_id(), sequence_id, query["limit"],
                                    query["before"])
    return page(items, query["limit"], "next_before")

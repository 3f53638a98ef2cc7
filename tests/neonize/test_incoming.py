"""Constructed neonize MessageEv objects → IncomingMessage with type, provider id and quote."""

from datetime import UTC, datetime

from device_host.transports.base import IncomingMessage
from device_host.transports.neonize_events import translate
from device_host.transports.neonize_transport import load_neonize

STAMP = 1_790_000_000


def _message(build, message_id: str = "3EB0IN1"):
    load_neonize()  # the quiet import (neonize's own leaves a child process behind)
    from neonize import events as ev
    from neonize.proto.Neonize_pb2 import JID

    event = ev.MessageEv()
    event.Info.MessageSource.Sender.CopyFrom(JID(User="60199990000", Server="s.whatsapp.net"))
    event.Info.ID = message_id
    event.Info.Timestamp = STAMP
    build(event.Message)
    return event


def test_a_quoted_text_reply_carries_its_ids():
    def build(message):
        message.extendedTextMessage.text = "yes please"
        message.extendedTextMessage.contextInfo.stanzaID = "3EB0OUT"

    assert translate(7, _message(build)) == [IncomingMessage(
        7, "+60199990000", "yes please", datetime.fromtimestamp(STAMP, UTC),
        message_type="text", provider_message_id="3EB0IN1", quoted_provider_id="3EB0OUT")]


def test_media_is_stored_with_its_type_and_caption_even_without_one():
    def image(message):
        message.imageMessage.caption = "my receipt"

    def voice(message):
        message.audioMessage.seconds = 3

    got = translate(7, _message(image))[0]
    assert (got.message_type, got.text) == ("image", "my receipt")
    got = translate(7, _message(voice))[0]
    assert (got.message_type, got.text) == ("audio", "")


def test_reactions_and_protocol_messages_are_not_messages():
    def reaction(message):
        message.reactionMessage.text = "👍"

    assert translate(7, _message(reaction)) == []

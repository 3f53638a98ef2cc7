"""What a media file is, read from its bytes, and which types each message type may carry.

One sniffing for both ends: the web app's uploads (POST /api/media, the pages' forms) and the
device host's sends (uploaded files and downloaded media URLs). puremagic reads the signature;
the declared type and the file name only choose among the types one signature stands for (a ZIP
is also a .docx, an OLE file also a .xls) and never overrule the bytes: a login page served as
photo.png is text/html, and an executable declared as application/msword is an executable.
"""

import os.path

import puremagic

IMAGE_TYPES = ("image/gif", "image/jpeg", "image/png", "image/webp")
VIDEO_TYPES = ("video/3gpp", "video/3gpp2", "video/mp4", "video/quicktime")
DOCUMENT_TYPES = (
    "application/msword",
    "application/pdf",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/zip",
    "text/csv",
    "text/plain",
)
# what an upload may be; a document may be any of them (a photo sent as a file)
ACCEPTED_TYPES = tuple(sorted(IMAGE_TYPES + VIDEO_TYPES + DOCUMENT_TYPES))
_BY_MESSAGE_TYPE = {"image": IMAGE_TYPES, "video": VIDEO_TYPES, "document": ACCEPTED_TYPES}
UNKNOWN = "application/octet-stream"

# the same type under another name (puremagic's table, browsers)
_ALIASES = {
    "application/excel": "application/vnd.ms-excel",
    "application/mspowerpoint": "application/vnd.ms-powerpoint",
    "application/x-zip-compressed": "application/zip",
    "image/jpg": "image/jpeg",
}
# a container with no hint is the container, not the first format puremagic lists for it
_CONTAINERS = ("application/zip", "application/x-ole-storage")
# bytes read: puremagic's longest header signature is shorter; text is text without a NUL here
_HEAD_BYTES = 64 * 1024
_TEXT_BYTES = 4096
_TEXT_LEAD = b"\xef\xbb\xbf \t\r\n"  # a UTF-8 BOM and white space before a text signature
# a text file may start like a short binary signature ("MZ", "BM", "{"): those need 3 bytes
_TEXT_MIN_SIGNATURE = 3


def sniff(data: bytes, filename: str = "", declared: str | None = None) -> str:
    """The content type of data, from its bytes; declared and filename only break ties.

    Bytes with no signature are text when their head has no NUL byte (the declared text/* type,
    else text/csv for a .csv name, else text/plain), otherwise application/octet-stream."""
    hint = normalise(declared)
    extension = os.path.splitext(filename or "")[1].lower()
    head = data[:_HEAD_BYTES]
    text = b"\x00" not in head[:_TEXT_BYTES]
    if text:
        head = head.lstrip(_TEXT_LEAD)
    found = _iso_media(head) or _signature(head, hint, extension, text)
    if found is not None:
        return found
    if not text:
        return UNKNOWN
    if hint.startswith("text/"):
        return hint
    return "text/csv" if extension == ".csv" else "text/plain"


def allowed(message_type: str, content_type: str) -> bool:
    """Whether a message of message_type (image, video, document) may carry content_type."""
    return content_type in _BY_MESSAGE_TYPE.get(message_type, ACCEPTED_TYPES)


def normalise(content_type: str | None) -> str:
    """A Content-Type header's bare type in lower case, under its usual name ("" for none)."""
    bare = (content_type or "").split(";")[0].strip().lower()
    return _ALIASES.get(bare, bare)


def _iso_media(head: bytes) -> str | None:
    """ISO base media (MP4, 3GP, MOV, HEIC, M4A): puremagic knows many brands only at one box
    size, so its table is asked about 'ftyp' and the brand with no size; an unknown brand is
    MP4 video (mp41, iso5, avc1 …)."""
    if head[4:8] != b"ftyp":
        return None
    return _signature(bytes(4) + head[4:12], "", "", text=False) or "video/mp4"


def _signature(head: bytes, hint: str, extension: str, text: bool) -> str | None:
    """The type puremagic reads from the head's signature; None when it knows none."""
    try:
        found = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):  # ValueError: no bytes
        return None
    found = [match for match in found
             if match.mime_type and match.offset >= 0
             and (not text or len(match.byte_match) >= _TEXT_MIN_SIGNATURE)]
    if not found:
        return None
    ties = [match for match in found if match.confidence == found[0].confidence]
    names = [normalise(match.mime_type) for match in ties]
    if hint in names:
        return hint
    for match, name in zip(ties, names, strict=True):
        if extension and match.extension == extension:
            return name
    return next((name for name in names if name in _CONTAINERS), names[0])

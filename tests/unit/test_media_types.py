"""dripfleet.media_types: the type comes from the bytes; the declared type and the file name only
choose among the types one signature stands for; what each message type may carry."""

import io
import zipfile

import pytest

from dripfleet.media_types import ACCEPTED_TYPES, allowed, normalise, sniff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
EXE = b"MZ\x90\x00binary"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "x")
    return out.getvalue()


@pytest.mark.parametrize("data, filename, declared, expected", [
    (PNG, "", "application/octet-stream", "image/png"),
    (PNG, "notes.txt", "text/plain", "image/png"),  # the bytes win
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16, "", None, "image/jpeg"),
    (b"GIF89a" + b"\x00" * 16, "", None, "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 16, "", None, "image/webp"),
    (b"%PDF-1.4\n%\xe2\xe3", "", None, "application/pdf"),
    # ISO media by brand, whatever the box size; an unknown brand is MP4 video
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16, "", None, "video/mp4"),
    (b"\x00\x00\x00\x1cftypmp41" + b"\x00" * 16, "", None, "video/mp4"),
    (b"\x00\x00\x00\x20ftyp3gp4" + b"\x00" * 16, "", None, "video/3gpp"),
    (b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 16, "", None, "video/quicktime"),
    (b"\x00\x00\x00\x1cftypheic" + b"\x00" * 16, "", None, "image/heif"),
    (b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 16, "", None, "audio/mp4"),
    # containers: the declared type or the name's extension says which format
    (_zip(), "", None, "application/zip"),
    (_zip(), "", "application/x-zip-compressed", "application/zip"),
    (_zip(), "sheet.xlsx", "application/octet-stream", XLSX),
    (_zip(), "file", XLSX, XLSX),
    (OLE, "old.xls", None, "application/vnd.ms-excel"),
    (OLE, "", "application/vnd.ms-powerpoint", "application/vnd.ms-powerpoint"),
    (OLE, "", None, "application/msword"),
    # no signature: text (the declared text type, .csv, else plain) or unknown binary
    (b"name,phone\n", "leads.csv", "application/vnd.ms-excel", "text/csv"),
    (b"\xef\xbb\xbfname,phone\n", "leads", "text/csv; charset=utf-8", "text/csv"),
    (b"MZ is a name,phone\n", "", "text/plain", "text/plain"),  # 2 bytes of text: no signature
    (b"hello", "", "text/html", "text/html"),
    (b"hello", "photo.png", "image/png", "text/plain"),
    (b"\x01\x02\x00\x03", "photo.png", "image/png", "application/octet-stream"),
    # disguises
    (b"  <!doctype html><html>", "photo.png", "image/png", "text/html"),
    (EXE, "plan.pdf", "application/pdf", "application/vnd.microsoft.portable-executable"),
])
def test_sniff(data: bytes, filename: str, declared: str | None, expected: str) -> None:
    assert sniff(data, filename, declared) == expected


@pytest.mark.parametrize("message_type, content_type, expected", [
    ("image", "image/png", True),
    ("image", "image/heif", False),
    ("image", "image/svg+xml", False),
    ("image", "application/pdf", False),
    ("video", "video/mp4", True),
    ("video", "video/webm", False),
    ("video", "image/png", False),
    ("document", "application/pdf", True),
    ("document", "image/png", True),
    ("document", "text/html", False),
    ("document", "application/vnd.microsoft.portable-executable", False),
])
def test_allowed(message_type: str, content_type: str, expected: bool) -> None:
    assert allowed(message_type, content_type) is expected


def test_every_accepted_type_is_one_a_document_may_carry() -> None:
    assert all(allowed("document", kind) for kind in ACCEPTED_TYPES)
    assert normalise(" Image/JPG; q=1") == "image/jpeg" and normalise(None) == ""

"""The demo workspace `dripfleet up` creates once: a user, three paired simulated devices, 500 leads
in three niches, a three-step sequence (text, image, document) and a campaign two minutes ahead.

The demo user's random password and API token are written to DATA_DIR/demo-login.txt (mode 600):
this is a local, simulated-network sandbox, and the file is how a second `make up` can show them.
"""

import hashlib
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import segno
from sqlalchemy import Engine

from dripfleet.queries import queries
from dripfleet.settings import Settings
from dripfleet.stores import users

queries.require(
    "demo_insert_device", "demo_insert_leads", "demo_insert_media", "demo_insert_sequence",
    "demo_insert_step", "demo_insert_campaign",
)

DEMO_EMAIL = "demo@dripfleet.local"
DEMO_TIMEZONE = "Asia/Kuala_Lumpur"
DEMO_LEADS = 500


def login_file(settings: Settings) -> Path:
    """Where the demo credentials are kept."""
    return settings.data_dir.resolve() / "demo-login.txt"


def ensure_demo(engine: Engine, settings: Settings, now: datetime | None = None) -> list[str]:
    """Create the demo workspace unless its user exists; return lines describing how to log in."""
    path = login_file(settings)
    with engine.begin() as conn:
        if users.find_by_email(conn, DEMO_EMAIL) is not None:
            if path.exists():
                return path.read_text(encoding="utf-8").splitlines()
            return [f"demo user {DEMO_EMAIL} exists (its login file {path} is gone)"]
        password = secrets.token_urlsafe(12)
        user = users.create_user(conn, DEMO_EMAIL, password, "Demo marketer", DEMO_TIMEZONE)
        token, _ = users.create_token(conn, user["id"], "demo")
        _seed(conn, user["id"], settings, now or datetime.now(ZoneInfo("UTC")))
    lines = [
        f"demo login: {DEMO_EMAIL} / {password}",
        f"demo API token: {token}",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return lines


def _seed(conn, user_id: int, settings: Settings, now: datetime) -> None:
    run = conn.execute
    for number in range(1, 4):
        run(queries.text("demo_insert_device"), {
            "user_id": user_id, "name": f"Demo phone {number}",
            "phone": f"+6019900000{number}", "jid": f"6019900000{number}@s.whatsapp.net",
            "min_delay": settings.min_delay_seconds, "max_delay": settings.max_delay_seconds,
        })
    run(queries.text("demo_insert_leads"), {"user_id": user_id, "count": DEMO_LEADS})
    image = _media(conn, user_id, "welcome.png", "image/png", _qr_png())
    document = _media(conn, user_id, "plan.pdf", "application/pdf", _tiny_pdf())
    local_now = now.astimezone(ZoneInfo(DEMO_TIMEZONE))
    # day 1 one minute from now, so the first messages leave within about two minutes
    first_send = (local_now + timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    sequence_id = run(queries.text("demo_insert_sequence"), {
        "user_id": user_id, "name": "Fitness 3-day welcome",
        "description": "Demo drip: a welcome, a picture, a plan.", "niche": "fitness",
        "timezone": DEMO_TIMEZONE,
    }).scalar_one()
    steps = [
        (1, first_send, "text", "{Hi|Hello|Hey} {{ first_name }}! Welcome to the {{ city }} "
                               "fitness club.", None, None, None),
        (2, first_send, "image", "", image, "Your first workout, {{ first_name }}", None),
        (3, first_send, "document", "", document, "Your 30-day plan", "plan.pdf"),
    ]
    for day, send_time, kind, body, media_id, caption, filename in steps:
        run(queries.text("demo_insert_step"), {
            "user_id": user_id, "sequence_id": sequence_id, "day": day, "send_time": send_time,
            "message_type": kind, "body": body, "media_id": media_id, "caption": caption,
            "filename": filename,
        })
    run(queries.text("demo_insert_campaign"), {
        "user_id": user_id, "title": "Yoga weekend retreat", "niche": "yoga",
        "scheduled_at": now + timedelta(minutes=2), "timezone": DEMO_TIMEZONE,
        "body": "{Hi|Hello} {{ first_name }}, our yoga retreat in {{ city }} opens this weekend!",
    })


def _media(conn, user_id: int, filename: str, content_type: str, data: bytes) -> int:
    return conn.execute(queries.text("demo_insert_media"), {
        "user_id": user_id, "filename": filename, "content_type": content_type,
        "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "data": data,
    }).scalar_one()


def _qr_png() -> bytes:
    from io import BytesIO

    out = BytesIO()
    segno.make("https://example.com/dripfleet-demo").save(out, kind="png", scale=8)
    return out.getvalue()


def _tiny_pdf() -> bytes:
    """A one-page PDF with one line of text (hand-built: no PDF library needed for a demo file)."""
    content = b"BT /F1 18 Tf 72 720 Td (Your 30-day plan - dripfleet demo) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)

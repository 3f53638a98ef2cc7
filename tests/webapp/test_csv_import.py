"""CSV import: the fixtures a user would really upload, each with the report or error expected."""

import io
import random
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from dripfleet.csv_import import normalize_phones
from dripfleet.phones import try_normalize_phone
from tests.conftest import scalar
from tests.webapp.conftest import assert_error

FIXTURES = Path(__file__).parent / "fixtures"


def upload(account, name: str | None = None, data: bytes | None = None, **form):
    if data is None:
        data = (FIXTURES / name).read_bytes()
    payload = {"file": (io.BytesIO(data), name or "leads.csv"), **form}
    return account.post("/api/leads/import", data=payload, content_type="multipart/form-data")


def leads_of(engine, user_id: int) -> dict[str, dict]:
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT phone, name, niches, target_status, preferred_device_id, attributes "
            "FROM leads WHERE user_id = :u ORDER BY phone"), {"u": user_id}).mappings()
        return {row["phone"]: dict(row) for row in rows}


def test_seed_export_imports_as_is(alice, engine):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (user_id, name) OVERRIDING SYSTEM VALUE "
                          "VALUES (:u, 'd')"), {"u": alice.id})
    device = scalar(engine, "SELECT id FROM devices WHERE user_id = :u", u=alice.id)
    data = (FIXTURES / "seed_export.csv").read_bytes().replace(b",3\n", f",{device}\n".encode())
    response = upload(alice, data=data)
    report = response.get_json()
    assert response.status_code == 200, report
    assert (report["inserted"], report["updated"], report["rejected_count"]) == (3, 0, 0)
    leads = leads_of(engine, alice.id)
    aina = leads["+60123456701"]
    assert aina["name"] == "Aina Rahman" and aina["niches"] == ["fitness"]
    assert aina["attributes"] == {"additional_note": "met at expo"}
    assert aina["preferred_device_id"] == device
    assert leads["+60123456702"]["niches"] == ["fitness", "yoga"]
    assert leads["+60123456702"]["target_status"] == "customer"
    assert leads["+60123456703"]["niches"] == ["yoga"]


def test_quoted_multi_niche_and_aliases_with_form_niche(alice, engine):
    report = upload(alice, "multi_niche.csv", niche="Promo").get_json()
    assert report["inserted"] == 2
    assert report["columns"] == {"phone": "Mobile", "name": "Full Name", "niche": "Tags"}
    leads = leads_of(engine, alice.id)
    assert leads["+60123456704"]["niches"] == ["fitness", "promo", "yoga"]
    assert leads["+60123456705"]["niches"] == ["fitness", "pilates", "promo", "yoga"]
    assert leads["+60123456704"]["name"] == "Dewi"


def test_semicolon_with_extra_column_as_attribute(alice, engine):
    assert upload(alice, "semicolon.csv").get_json()["inserted"] == 2
    leads = leads_of(engine, alice.id)
    assert leads["+60123456706"]["attributes"] == {"company": "Acme Sdn Bhd"}
    assert leads["+60123456707"]["attributes"] == {}


@pytest.mark.parametrize("name,phone,person", [
    ("bom.csv", "+60123456708", "Hana"),
    ("latin1.csv", "+60123456709", "José Müller"),
    ("tab.tsv", "+60123456711", "Iman"),
])
def test_encodings_and_delimiters(alice, engine, name, phone, person):
    report = upload(alice, name).get_json()
    assert report["rejected_count"] == 0, report
    assert leads_of(engine, alice.id)[phone]["name"] == person


def test_invalid_and_duplicate_phones_reported_per_line(alice, engine):
    report = upload(alice, "invalid_and_duplicate.csv", target_status="customer").get_json()
    assert report["rows"] == 6
    assert report["inserted"] == 2 and report["duplicates_merged"] == 1
    assert [(r["line"], r["phone"]) for r in report["rejected"]] == \
        [(3, "12345"), (5, ""), (6, "+60123456713")]
    assert "invalid phone number" in report["rejected"][0]["reason"]
    assert "target_status" in report["rejected"][2]["reason"]
    leads = leads_of(engine, alice.id)
    jay = leads["+60123456712"]
    assert jay["name"] == "Jay Again" and jay["niches"] == ["fitness", "yoga"]
    assert jay["target_status"] == "prospect"
    assert leads["+60123456714"]["target_status"] == "customer"


def test_reimport_updates_and_merges_niches(alice, engine):
    upload(alice, "multi_niche.csv")
    data = b"phone,niche,name\n+60123456704,running,\n+60123456705,yoga,\n"
    report = upload(alice, data=data).get_json()
    assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 1, 1)
    leads = leads_of(engine, alice.id)
    assert leads["+60123456704"]["niches"] == ["fitness", "running", "yoga"]
    assert leads["+60123456704"]["name"] == "Dewi"


@pytest.mark.parametrize("name,status,words", [
    ("no_phone.csv", 400, "no phone column"),
    ("empty.csv", 400, "empty"),
    ("header_only.csv", 400, "no rows"),
    ("binary.png", 415, "binary"),
])
def test_refused_files_write_nothing(alice, engine, name, status, words):
    error = assert_error(upload(alice, name), status, "file")
    assert words in error["message"]
    assert scalar(engine, "SELECT count(*) FROM leads WHERE user_id = :u", u=alice.id) == 0


def test_oversized_file_is_413(alice, app, engine):
    app.config["MAX_UPLOAD_BYTES"] = 1024
    data = b"phone\n" + b"+60123456789\n" * 200
    assert_error(upload(alice, data=data), 413)
    assert scalar(engine, "SELECT count(*) FROM leads WHERE user_id = :u", u=alice.id) == 0


def test_request_above_the_body_limit_is_413(alice, app):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    assert_error(upload(alice, data=b"phone\n" + b"+60123456789\n" * 400), 413)


def test_missing_file_field_is_422(alice):
    response = alice.post("/api/leads/import", data={"niche": "x"},
                          content_type="multipart/form-data")
    assert_error(response, 422, "file")


def test_export_then_import_changes_nothing(alice, engine):
    upload(alice, "seed_export.csv")
    upload(alice, "semicolon.csv")
    upload(alice, "latin1.csv")
    before = leads_of(engine, alice.id)
    exported = alice.get("/api/leads/export")
    assert exported.mimetype == "text/csv"
    report = upload(alice, data=exported.get_data()).get_json()
    assert report["unchanged"] == len(before) and report["inserted"] == report["updated"] == 0
    assert leads_of(engine, alice.id) == before


def test_fast_phone_path_agrees_with_the_kernel():
    samples = []
    for n in range(200):
        samples += [f"+60 12-{n:03d} {n * 7 % 10000:04d}", f"012{n:03d}{n * 13 % 10000:04d}",
                    f"6012{n:03d}{n:04d}", f"+1 202 555 {n:04d}", f"+39 06 {n:04d}{n:04d}",
                    f"+44 7911 {n:06d}", f"0{n:04d}", f"+0{n}", f"(03) {n:04d} {n:04d}",
                    f"+65 9{n:03d} {n:04d}", f"{n}.0", f"+60 {n}"]
    rng = random.Random(5)
    for _ in range(1500):
        lead = rng.choice(["+", "0", "", "00", "+60", "60", "+44", "+91", "+62 8"])
        samples.append(lead + "".join(rng.choice("0123456789")
                                      for _ in range(rng.randint(5, 12))))
    for region in ("MY", "GB", "US", "ID"):
        phones, reasons = normalize_phones(pd.Series(samples), region)
        for raw, phone, reason in zip(samples, phones, reasons, strict=True):
            assert (phone, reason) == try_normalize_phone(raw, region), raw


def _mixed_rows(count: int) -> bytes:
    """Rows whose phones repeat far apart (so across chunks), with invalid ones between."""
    lines = ["name,phone,niche,target_status,city"]
    for i in range(count):
        phone = f"+6012345{6800 + i % (count // 3):04d}"
        lines.append(f"Lead {i},{phone},{'fitness' if i % 2 else 'yoga'},"
                     f"{'customer' if i % 5 == 0 else ''},{'Penang' if i % 3 else ''}")
        if i % 11 == 0:
            lines.append(f"Bad {i},12{i},fitness,,")
    return ("\n".join(lines) + "\n").encode()


def test_chunked_import_gives_the_same_report_and_leads(alice, bob, engine, monkeypatch):
    import dripfleet.csv_import as csv_import

    data = _mixed_rows(90)
    whole = upload(alice, data=data).get_json()
    monkeypatch.setattr(csv_import, "FIRST_CHUNK_ROWS", 4)
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 9)
    assert len(csv_import._chunks(99)) > 10
    chunked = upload(bob, data=data).get_json()
    assert whole["inserted"] == 30 and whole["duplicates_merged"] == 60
    assert chunked == whole
    assert leads_of(engine, bob.id) == leads_of(engine, alice.id)
    before = leads_of(engine, bob.id)
    again = upload(bob, data=data).get_json()
    # a phone repeated with other values chunks apart is counted by its first row's effect
    assert again["inserted"] == 0 and again["updated"] + again["unchanged"] == 30
    assert leads_of(engine, bob.id) == before


@pytest.mark.parametrize("had_leads", [False, True], ids=["first-import", "with-leads"])
def test_a_lead_added_during_the_import_is_merged_not_a_500(alice, engine, had_leads):
    """The fast insert meets a phone another writer adds meanwhile: the chunk is upserted."""
    import threading
    import time

    if had_leads:
        upload(alice, data=b"phone\n+60123456789\n")
    data = b"name,phone,niche\nRacer,+60123456790,fitness\nOther,+60123456791,yoga\n"
    results = {}
    with engine.connect() as other:
        other.execute(text("INSERT INTO leads (user_id, phone, name, niches) "
                           "VALUES (:u, '+60123456790', 'From the API', '{vip}')"),
                      {"u": alice.id})  # not committed yet: the import's insert waits on it
        thread = threading.Thread(target=lambda: results.update(response=upload(alice, data=data)))
        thread.start()
        deadline = time.monotonic() + 30
        # the only session of this database that can wait on a lock is the import's
        while scalar(engine, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                             " 'Lock' AND datname = current_database()") == 0:
            assert time.monotonic() < deadline, "the import never reached its insert"
            time.sleep(0.05)
        other.commit()
    thread.join(30)
    response = results["response"]
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    assert (report["inserted"], report["updated"]) == (1, 1)
    racer = leads_of(engine, alice.id)["+60123456790"]
    assert racer["name"] == "Racer" and racer["niches"] == ["fitness", "vip"]


def test_rejected_rows_are_numbered_as_a_spreadsheet_shows_them(alice):
    """A quoted cell over several lines is one row; a malformed row keeps its number."""
    data = (b'name,phone,note\n"Multi\nline",+60123456720,a\nBad,+60123456721,x,y\n'
            b'Short,12345,b\n"A\n\nB",99,c\n')
    report = upload(alice, data=data).get_json()
    assert [(r["line"], r["phone"]) for r in report["rejected"]] == \
        [(3, ""), (4, "12345"), (5, "99")]
    assert report["inserted"] == 1


def test_a_file_with_only_phones_imports_and_reimports(alice, engine):
    """Missing columns are empty, not NULL: new leads get '' names and the default status."""
    data = b"whatsapp\n+60123456730\n012-345 6731\n"
    first = upload(alice, data=data).get_json()
    assert first["inserted"] == 2, first
    leads = leads_of(engine, alice.id)
    assert leads["+60123456731"]["name"] == "" and leads["+60123456731"]["niches"] == []
    assert leads["+60123456731"]["target_status"] == "prospect"
    again = upload(alice, data=data + b"+60123456732\n").get_json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (1, 0, 2)


def test_a_1mb_cell_rejects_its_row_only_with_the_column_named(alice, engine):
    """The measured template attack began with a 1 MB attribute imported from a CSV."""
    big = "x" * 1_000_000
    data = ("name,phone,niche,city\n"
            f"Fine,+60123456740,yoga,Penang\n"
            f"Attr,+60123456741,yoga,{big}\n"
            f"{big},+60123456742,yoga,Ipoh\n"
            f"Niche,+60123456743,{big},Ipoh\n"
            f"Edge,+60123456744,yoga,{'y' * 2000}\n").encode()
    response = upload(alice, data=data)
    # the test client spools a body this large to a temporary file that it leaves open
    response.request.environ["wsgi.input"].close()
    report = response.get_json()
    assert response.status_code == 200, report
    assert (report["rows"], report["inserted"], report["rejected_count"]) == (5, 2, 3)
    assert report["rejected"] == [
        {"line": 3, "phone": "+60123456741",
         "reason": "column 'city' is longer than 2,000 characters"},
        {"line": 4, "phone": "+60123456742", "reason": "name is longer than 200 characters"},
        {"line": 5, "phone": "+60123456743",
         "reason": "a niche tag is longer than 100 characters"},
    ]
    leads = leads_of(engine, alice.id)
    assert set(leads) == {"+60123456740", "+60123456744"}
    assert leads["+60123456740"]["attributes"] == {"city": "Penang"}
    assert leads["+60123456744"]["attributes"] == {"city": "y" * 2000}  # the cap itself is fine


def test_too_many_or_too_long_attribute_columns_refuse_the_file(alice, engine):
    many = ",".join(f"c{n}" for n in range(101))
    error = assert_error(upload(alice, data=f"phone,name,{many}\n+60123456745,A\n".encode()),
                         400, "file")
    assert "101 columns" in error["message"] and "at most 100" in error["message"]
    long_header = "h" * 101
    error = assert_error(upload(alice, data=f"phone,{long_header}\n+60123456745,x\n".encode()),
                         400, "file")
    assert "longer than 100 characters" in error["message"]
    assert scalar(engine, "SELECT count(*) FROM leads WHERE user_id = :u", u=alice.id) == 0
    hundred = ",".join(f"c{n}" for n in range(100))
    assert upload(alice, data=f"phone,{hundred}\n+60123456745\n".encode()).get_json()[
        "inserted"] == 1

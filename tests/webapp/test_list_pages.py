"""The keyset pages of the long tables by the Flask test client (webapp/pages/paging.py): walking
forward and back visits every row once, totals count only the user's rows and stop at the cap,
a forged cursor is the first page, a bad status filter is said and dropped."""

import html
import re

import pytest

from tests.conftest import scalar
from tests.webapp.conftest import SignedIn
from webapp.pages import leads as lead_pages
from webapp.pages import paging
from webapp.pages import sequences as sequence_pages


@pytest.fixture
def user(pages_app, engine) -> SignedIn:
    return SignedIn(pages_app, engine, "lists")


def _leads(engine, user_id: int, count: int, niche: str = "fitness", first: int = 1) -> None:
    scalar(engine, "WITH n AS (INSERT INTO leads (user_id, phone, name, niches)"
                   " SELECT :u, '+6013' || lpad((:u * 1000 + g)::text, 7, '0'), 'Lead ' || g,"
                   " ARRAY[:n] FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g"
                   " RETURNING 1) SELECT count(*) FROM n",
           u=user_id, n=niche, a=first, b=first + count - 1)


def _page(client, url: str, name: str) -> tuple[list[str], str, str | None, str | None]:
    """The lead names, the range label and the Previous / Next links of one page."""
    body = client.get(url).get_data(as_text=True)
    names = re.findall(r'class="lead-link">([^<]+)</a>', body)
    label = re.search(rf'id="{name}-range">([^<]+)<', body).group(1)
    links = [re.search(rf'id="{name}-{kind}" href="([^"]+)"', body) for kind in ("prev", "next")]
    prev_url, next_url = (html.unescape(m.group(1)) if m else None for m in links)
    return names, label, prev_url, next_url


def test_leads_forward_and_back_with_totals_of_the_users_own(user, pages_app, engine,
                                                              monkeypatch):
    monkeypatch.setattr(lead_pages, "PAGE_SIZE", 2)
    _leads(engine, user.id, 5)
    _leads(engine, user.id, 3, niche="yoga", first=10)
    other = SignedIn(pages_app, engine, "lists-other")
    _leads(engine, other.id, 4)  # another user's fitness leads count nowhere here
    seen, labels, url = [], [], "/leads?niche=fitness"
    pages = []
    while url:
        names, label, prev_url, url = _page(user.client, url, "leads")
        seen += names
        labels.append(label)
        pages.append(prev_url)
    assert seen == [f"Lead {n}" for n in range(1, 6)]
    assert labels == ["1–2 of 5", "3–4 of 5", "5 of 5"]
    assert pages[0] is None and all("niche=fitness" in p for p in pages[1:])
    # back from the last page: the same pages in reverse, the first without a cursor
    names, label, prev_url, _next = _page(user.client, pages[-1], "leads")
    assert (names, label) == (["Lead 3", "Lead 4"], "3–4 of 5")
    names, label, prev_url, _next = _page(user.client, prev_url, "leads")
    assert (names, label, prev_url) == (["Lead 1", "Lead 2"], "1–2 of 5", None)


def test_totals_stop_at_the_cap_and_a_forged_cursor_is_the_first_page(user, engine,
                                                                      monkeypatch):
    monkeypatch.setattr(lead_pages, "PAGE_SIZE", 2)
    monkeypatch.setattr(paging, "COUNT_CAP", 3)
    _leads(engine, user.id, 5)
    names, label, prev_url, next_url = _page(user.client, "/leads", "leads")
    assert (names, label) == (["Lead 1", "Lead 2"], "1–2 of more than 3")
    names, label, prev_url, next_url = _page(user.client, "/leads?after=x1&start=-4", "leads")
    assert (names, label, prev_url) == (["Lead 1", "Lead 2"], "1–2 of more than 3", None)
    # a cursor without its position (a link from elsewhere) still pages, without a range
    names, label, prev_url, next_url = _page(user.client, "/leads?before=99999999", "leads")
    assert label == "2 shown of more than 3"


def test_sequence_lists_keep_each_others_place_and_say_a_bad_status(user, engine, monkeypatch):
    monkeypatch.setattr(sequence_pages, "PAGE_SIZE", 2)
    _leads(engine, user.id, 3)
    sequence = scalar(engine, "INSERT INTO sequences (user_id, name, niche) VALUES"
                              " (:u, 'Welcome', 'fitness') RETURNING id", u=user.id)
    scalar(engine, "WITH c AS (INSERT INTO sequence_contacts (user_id, sequence_id, lead_id)"
                   " SELECT :u, :s, id FROM leads WHERE user_id = :u ORDER BY id RETURNING id),"
                   " g AS (INSERT INTO sequence_skips (user_id, sequence_id, contact_id, day,"
                   " error) SELECT :u, :s, id, 1, 'template' FROM c RETURNING 1)"
                   " SELECT count(*) FROM g",
           u=user.id, s=sequence)
    newest = scalar(engine, "SELECT max(id) FROM sequence_logs WHERE sequence_id = :s",
                    s=sequence)
    body = user.client.get(f"/sequences/{sequence}?logs_after={newest}&logs_start=2"
                           "&contact_status=asleep").get_data(as_text=True)
    assert "contact_status: “asleep” is not one of" in body
    assert re.search(r'id="contacts-range">1–2 of 3<', body)
    assert re.search(r'id="logs-range">2–3 of 3<', body)
    next_contacts = html.unescape(re.search(r'id="contacts-next" href="([^"]+)"', body).group(1))
    assert f"logs_after={newest}" in next_contacts and "logs_start=2" in next_contacts
    body = user.client.get(next_contacts).get_data(as_text=True)
    assert re.search(r'id="contacts-range">3 of 3<', body)
    assert re.search(r'id="logs-range">2–3 of 3<', body)
    stranger = SignedIn(user.client.application, engine, "lists-stranger")
    assert stranger.client.get(f"/sequences/{sequence}").status_code == 404

"""In a real browser on a real gunicorn: the Secure session cookie over http://127.0.0.1, and the
pages' script sending the CSRF token with the API writes it makes."""

from playwright.sync_api import expect

PASSWORD = "correct horse battery"
POST_TOKEN = """async (headers) => (await fetch("/api/tokens", {
    method: "POST", credentials: "same-origin", body: JSON.stringify({name: "raw"}),
    headers: {"Content-Type": "application/json", ...headers}})).status"""


def test_secure_cookie_and_the_csrf_header_in_chromium(browser, served, make_user):
    make_user("cookie@example.com", password=PASSWORD)
    # no Watch here: the refused fetch below is meant to fail, which Chromium logs as an error
    context = browser.new_context(base_url=served)
    try:
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=email]", "cookie@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator(".flash")).to_contain_text("Signed in")
        # the app names a database server, so the cookie is Secure; Chromium still keeps and
        # sends it over plain HTTP to 127.0.0.1 (a loopback address is a trustworthy origin)
        (cookie,) = [c for c in context.cookies() if c["name"] == "session"]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        created = page.evaluate("""async () => (await dripfleet.api("/api/tokens",
            {method: "POST", body: {name: "from the page"}})).status""")
        assert created == 201
        assert page.evaluate(POST_TOKEN, {}) == 403
        token = page.get_attribute('meta[name="csrf-token"]', "content")
        assert page.evaluate(POST_TOKEN, {"X-CSRFToken": token}) == 201
    finally:
        context.close()

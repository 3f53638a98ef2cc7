"""The browser tests fail, never skip, when Debian's chromium is missing."""

import pytest

from tests.pages import browser as harness


def test_missing_chromium_fails_naming_what_is_missing(monkeypatch):
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="Debian's `chromium`.*ensure_chromium.sh"):
        harness.chromium_path()


def test_chromium_is_installed_for_the_browser_tests():
    assert harness.chromium_path().endswith("chromium")


def test_the_watch_catches_console_errors_and_other_hosts(browser):
    watch = harness.Watch("http://127.0.0.1:9")
    context = browser.new_context()
    watch.attach(context)
    page = context.new_page()
    page.route("http://127.0.0.1:9/", lambda route: route.fulfill(
        content_type="text/html",
        body='<img src="http://cdn.example.com/x.png"><script>console.error("boom")</script>'))
    page.goto("http://127.0.0.1:9/")
    page.wait_for_timeout(300)
    context.close()
    problems = "\n".join(watch.problems)
    assert "request to another host: http://cdn.example.com/x.png" in problems
    assert "console error" in problems and "boom" in problems
    with pytest.raises(AssertionError):
        watch.check()

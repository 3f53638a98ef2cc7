"""The browser tests fail, never skip, when Debian's chromium is missing."""

import pytest

from tests.pages import browser


def test_missing_chromium_fails_naming_what_is_missing(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="Debian's `chromium`.*ensure_chromium.sh"):
        browser.chromium_path()


def test_chromium_is_installed_for_the_browser_tests():
    assert browser.chromium_path().endswith("chromium")

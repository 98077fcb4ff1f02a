"""The browser fixtures of test_pwa.py, shared with the other PWA test modules."""

from test_pwa import apps, browser

__all__ = ["apps", "browser"]

"""Tests that drive a real headless Chromium (a package, so its conftest is not the suite's `conftest`)."""

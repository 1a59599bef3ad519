"""Shared test set-up: this folder is on sys.path, so every test (the browser tests
included) can import the helpers in notebook_checks.py."""

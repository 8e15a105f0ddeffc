"""
Tests for virtd (run with trial: C{.venv/bin/trial tests}).
"""

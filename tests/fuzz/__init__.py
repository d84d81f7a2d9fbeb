"""Helpers of the reader fuzz harness (``tests/fuzz``); the tests are in ``test_*.py`` beside them.

Importable as ``fuzz`` because ``tests`` is on pytest's ``pythonpath``; the
worker process imports them under the same name.
"""

"""Helpers shared by the tests and benchmarks: the plain NumPy references, result comparison,
the distributed engines' survey, Monte-Carlo error. Imported as ``helpers.<module>`` (the
tests directory is on ``sys.path``, see ``tests/conftest.py``)."""

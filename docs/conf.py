"""
Sphinx configuration for the virtd documentation.

Built with warnings as errors by C{make test}:
C{sphinx-build -W -b html docs docs/_build/html}.
"""

project = "virtd"
author = "the virtd authors"
copyright = "the virtd authors"
release = "0.1.0"
version = "0.1"

extensions: list[str] = []

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
html_static_path: list[str] = []
html_theme = "alabaster"
# The hardware-free default backend every example uses.
rst_epilog = """
.. |default-backend| replace:: ``test:///default``
"""

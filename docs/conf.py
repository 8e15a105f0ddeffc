"""
Sphinx configuration for the virtd documentation.

Built with warnings as errors by C{make test}:
C{sphinx-build -W -b html docs docs/_build/html}.
"""

import os
import sys

# docs/_ext holds the epytext converter and virtd's table directives; the
# checkout root makes `import virtd` work without an install.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, "_ext"))
sys.path.insert(0, os.path.dirname(_here))

project = "virtd"
author = "the virtd authors"
copyright = "the virtd authors"
release = "0.1.0"
version = "0.1"

extensions: list[str] = ["sphinx.ext.autodoc", "epytext", "virtdapi"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": False}

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
html_static_path: list[str] = []
html_theme = "alabaster"
# The hardware-free default backend every example uses.
rst_epilog = """
.. |default-backend| replace:: ``test:///default``
"""

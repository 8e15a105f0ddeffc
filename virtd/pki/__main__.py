"""
C{python -m virtd.pki}: runs L{virtd.pki.cli.main}.
"""

import sys

from virtd.pki.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""
C{python -m virtd -c NAME <command>}: the virsh-like command line (see
L{virtd.cli}).
"""

from virtd.cli import main

if __name__ == "__main__":
    main()

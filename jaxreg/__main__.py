"""``python -m jaxreg``: the ``jaxreg`` command (see ``jaxreg.cli``)."""

import sys

from jaxreg.cli import main

if __name__ == "__main__":
    sys.exit(main())

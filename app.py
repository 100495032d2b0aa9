"""Start the tlweb app: ``python app.py [--demo] [--port 7860] [--host 127.0.0.1]``."""

import sys

from tlweb.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

import sys

from tlweb.cli import main

sys.exit(main())

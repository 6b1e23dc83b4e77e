import sys

from kreg.lab.cli import main

sys.exit(main())

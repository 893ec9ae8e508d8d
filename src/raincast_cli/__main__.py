import sys

from raincast_cli.cli import main

sys.exit(main())

import sys

from raincast.cli import main

sys.exit(main())

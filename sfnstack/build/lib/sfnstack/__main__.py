import sys

from sfnstack.cli import main

sys.exit(main())

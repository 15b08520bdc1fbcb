"""`python -m worker.simulator ...` runs the simulator's command line."""

import sys

from worker.simulator.cli import main

sys.exit(main())

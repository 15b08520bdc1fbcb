"""A Scenario API simulator: a real HTTP server that stands for the outside world.

It imports nothing from the rest of `worker`, so it can never agree with the
client by sharing its code.
"""

from worker.simulator.config import SimulatorConfig
from worker.simulator.faults import Faults
from worker.simulator.simulator import Simulator

__all__ = ["Faults", "Simulator", "SimulatorConfig"]

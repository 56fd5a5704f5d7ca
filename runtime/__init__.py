"""Process-level plumbing shared by the service and the simulator: clocks, logging."""

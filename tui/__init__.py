"""Terminal UI (textual): a client of the running service's control socket, never a trading engine."""

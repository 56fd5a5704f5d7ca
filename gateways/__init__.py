"""The outside world behind small interfaces: broker, prices, audit store, alerts, calendar."""

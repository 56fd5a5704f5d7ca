"""Numbered migrations (postgresql/, sqlite/) and the seed's monitoring queries, shipped with the package."""

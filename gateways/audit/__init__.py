"""The audit store (PostgreSQL, or embedded SQLite) and the durable spool in front of it.

The AuditLogger actor codes against this package only:
``open_store(settings)``, ``AuditStore``, ``DurableAuditLog``, ``StoreUnavailable``, ``RecordRejected``.
"""

from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_store
from gateways.audit.protocol import AuditStore, RecordRejected, StoreUnavailable

__all__ = ["AuditStore", "DurableAuditLog", "RecordRejected", "StoreUnavailable", "open_store"]

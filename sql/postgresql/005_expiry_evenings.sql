-- The evening record of each expiration session (domain.evening.EveningRecord), for the next morning's check
-- of what was exercised or assigned: the expiring options still open at the close, the shares held before,
-- the closing prices. One per session and run; a later record of the same session (a restart after the
-- close) replaces an earlier one, never the other way round (see SqlAuditStore.insert_evenings).
CREATE TABLE IF NOT EXISTS alm_reporting.expiry_evenings (
    session_date DATE NOT NULL,
    run_id TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMPTZ NOT NULL,
    account VARCHAR(50) NOT NULL DEFAULT '',
    record JSONB NOT NULL,
    PRIMARY KEY (session_date, run_id)
);

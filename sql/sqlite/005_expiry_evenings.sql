-- SQLite twin of postgresql/005: the evening record of each expiration session, for the morning check.
CREATE TABLE IF NOT EXISTS alm_reporting.expiry_evenings (
    session_date TEXT NOT NULL,
    run_id TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    account TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL,
    PRIMARY KEY (session_date, run_id)
);

-- SQLite twin of postgresql/002.
CREATE TABLE IF NOT EXISTS alm_reporting.risk_assessments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    assessed_at TEXT NOT NULL,
    trade_date TEXT NOT NULL,
    contract_key TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    spot REAL,
    moneyness REAL,
    risk_score REAL,
    probability_itm REAL,
    level TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    UNIQUE (contract_key, assessed_at)
);

CREATE INDEX IF NOT EXISTS alm_reporting.risk_assessments_time_idx ON risk_assessments (assessed_at);

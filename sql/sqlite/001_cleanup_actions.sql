-- SQLite twin of postgresql/001: the same tables and columns under the same qualified names.
-- The store opens an in-memory main database and ATTACHes the audit file AS alm_reporting, so
-- "alm_reporting.cleanup_actions" means the same thing in both dialects.
-- Timestamps are UTC ISO-8601 text of fixed width (lexicographic order = time order); numbers are REAL.
CREATE TABLE IF NOT EXISTS alm_reporting.cleanup_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_timestamp TEXT NOT NULL,
    position_symbol TEXT,
    strike REAL,
    expiry TEXT,
    moneyness REAL,
    action_taken TEXT,
    execution_price REAL,
    success INTEGER,
    action_id TEXT NOT NULL UNIQUE,
    trade_date TEXT NOT NULL,
    account TEXT NOT NULL DEFAULT '',
    option_right TEXT,
    quantity INTEGER,
    mode TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    risk_score REAL,
    probability_itm REAL,
    order_ref TEXT,
    ib_order_id TEXT,
    reference_mid REAL,
    slippage REAL,
    pnl_impact REAL,
    error TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS alm_reporting.cleanup_actions_timestamp_idx ON cleanup_actions (action_timestamp);
CREATE INDEX IF NOT EXISTS alm_reporting.cleanup_actions_trade_date_idx ON cleanup_actions (trade_date, action_taken);
CREATE INDEX IF NOT EXISTS alm_reporting.cleanup_actions_symbol_idx ON cleanup_actions (position_symbol, action_timestamp);
CREATE INDEX IF NOT EXISTS alm_reporting.cleanup_actions_order_ref_idx ON cleanup_actions (order_ref)
    WHERE order_ref IS NOT NULL;

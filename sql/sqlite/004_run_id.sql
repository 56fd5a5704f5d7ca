-- SQLite twin of postgresql/004: the run id on every record, part of an assessment sample's identity.
ALTER TABLE alm_reporting.cleanup_actions ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS alm_reporting.cleanup_actions_run_idx ON cleanup_actions (run_id, action_timestamp);

-- SQLite cannot drop a table's UNIQUE constraint: rebuild the table with the new one.
CREATE TABLE alm_reporting.risk_assessments_new (
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
    run_id TEXT NOT NULL DEFAULT '',
    UNIQUE (contract_key, assessed_at, run_id)
);
INSERT INTO alm_reporting.risk_assessments_new (id, assessed_at, trade_date, contract_key, quantity, spot, moneyness,
                                                risk_score, probability_itm, level, stage, action, mode)
    SELECT id, assessed_at, trade_date, contract_key, quantity, spot, moneyness, risk_score, probability_itm, level,
           stage, action, mode
    FROM alm_reporting.risk_assessments;
DROP TABLE alm_reporting.risk_assessments;
ALTER TABLE alm_reporting.risk_assessments_new RENAME TO risk_assessments;
CREATE INDEX IF NOT EXISTS alm_reporting.risk_assessments_time_idx ON risk_assessments (assessed_at);

DROP VIEW IF EXISTS alm_reporting.cleanup_summary;
CREATE VIEW alm_reporting.cleanup_summary AS
SELECT
    trade_date AS date,
    COUNT(*) AS total_actions,
    SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successful,
    SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) AS failed,
    SUM(CASE WHEN action_taken = 'fill' AND success IS NOT 0 THEN ABS(quantity) ELSE 0 END) AS contracts_closed,
    SUM(CASE WHEN action_taken = 'fill' AND success IS NOT 0
             THEN ABS(quantity) * 100 * strike ELSE 0 END) AS exercise_avoided_notional,
    COALESCE(SUM(pnl_impact), 0) AS pnl_impact,
    AVG(moneyness) AS avg_moneyness,
    AVG(CASE WHEN action_taken = 'fill' THEN slippage END) AS avg_fill_slippage,
    run_id
FROM alm_reporting.cleanup_actions
GROUP BY trade_date, run_id;

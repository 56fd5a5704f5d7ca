-- Which run wrote a record: '' for the service itself, 'sim-<UTC start>-<random>' for one `simulate`
-- run (domain.audit.new_run_id). A simulation written to a shared store is then never counted as
-- trading, and a rerun of the same scenario never doubles another run's timeline.
ALTER TABLE alm_reporting.cleanup_actions ADD COLUMN IF NOT EXISTS run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS cleanup_actions_run_idx ON alm_reporting.cleanup_actions (run_id, action_timestamp);

-- A sample is identified by its run as well: two runs of one scenario assess the same contract at
-- the same (virtual) instant, and the second run's samples must not be dropped as duplicates.
ALTER TABLE alm_reporting.risk_assessments ADD COLUMN IF NOT EXISTS run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE alm_reporting.risk_assessments DROP CONSTRAINT IF EXISTS risk_assessments_contract_key_assessed_at_key;
CREATE UNIQUE INDEX IF NOT EXISTS risk_assessments_sample_key
    ON alm_reporting.risk_assessments (contract_key, assessed_at, run_id);

-- One row per session day and run (run_id '' is the service); new columns go last (CREATE OR REPLACE).
CREATE OR REPLACE VIEW alm_reporting.cleanup_summary AS
SELECT
    trade_date AS date,
    COUNT(*) AS total_actions,
    SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successful,
    SUM(CASE WHEN success = FALSE THEN 1 ELSE 0 END) AS failed,
    SUM(CASE WHEN action_taken = 'fill' AND success IS NOT FALSE THEN ABS(quantity) ELSE 0 END) AS contracts_closed,
    SUM(CASE WHEN action_taken = 'fill' AND success IS NOT FALSE
             THEN ABS(quantity) * 100 * strike ELSE 0 END) AS exercise_avoided_notional,
    COALESCE(SUM(pnl_impact), 0) AS pnl_impact,
    AVG(moneyness) AS avg_moneyness,
    AVG(CASE WHEN action_taken = 'fill' THEN slippage END) AS avg_fill_slippage,
    run_id
FROM alm_reporting.cleanup_actions
GROUP BY trade_date, run_id;

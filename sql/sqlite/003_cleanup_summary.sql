-- SQLite twin of postgresql/003 (SQLite has no CREATE OR REPLACE VIEW: drop, then create).
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
    AVG(CASE WHEN action_taken = 'fill' THEN slippage END) AS avg_fill_slippage
FROM alm_reporting.cleanup_actions
GROUP BY trade_date;

-- One row per session date (America/New_York): the numbers of the daily narrative.
-- domain/report.py computes the same numbers from the records; tests hold the two equal.
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
    AVG(CASE WHEN action_taken = 'fill' THEN slippage END) AS avg_fill_slippage
FROM alm_reporting.cleanup_actions
GROUP BY trade_date;

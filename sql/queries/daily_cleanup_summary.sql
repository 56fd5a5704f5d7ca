-- Daily cleanup summary (the seed's monitoring query, verbatim; PostgreSQL).
SELECT 
    DATE(action_timestamp) as date,
    COUNT(*) as total_actions,
    SUM(CASE WHEN success THEN 1 ELSE 0 END) as successful,
    AVG(moneyness) as avg_moneyness
FROM alm_reporting.cleanup_actions
WHERE action_timestamp >= CURRENT_DATE - INTERVAL '7 days'
GROUP BY DATE(action_timestamp)
ORDER BY date DESC;

-- View today's cleanup actions (seed; PostgreSQL).
SELECT * FROM alm_reporting.cleanup_actions 
WHERE DATE(action_timestamp) = CURRENT_DATE
ORDER BY action_timestamp DESC;

-- View summary statistics (seed; both dialects).
SELECT * FROM alm_reporting.cleanup_summary;

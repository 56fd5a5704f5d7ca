-- Sampled risk assessments (at most one per position per assessment_sample_seconds, not every tick).
-- (contract_key, assessed_at) identifies a sample, so a replayed spool never stores one twice.
CREATE TABLE IF NOT EXISTS alm_reporting.risk_assessments (
    id BIGSERIAL PRIMARY KEY,
    assessed_at TIMESTAMPTZ NOT NULL,
    trade_date DATE NOT NULL,
    contract_key VARCHAR(50) NOT NULL,
    quantity INTEGER NOT NULL,
    spot NUMERIC(12,4),
    moneyness NUMERIC(12,6),
    risk_score DOUBLE PRECISION,
    probability_itm DOUBLE PRECISION,
    level TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    UNIQUE (contract_key, assessed_at)
);

CREATE INDEX IF NOT EXISTS risk_assessments_time_idx ON alm_reporting.risk_assessments (assessed_at);

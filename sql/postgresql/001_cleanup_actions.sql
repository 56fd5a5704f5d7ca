-- The seed's alm_reporting.cleanup_actions, plus what a trader needs afterwards.
-- Deviations from the seed's column types (documented in docs/audit.md):
--   moneyness       NUMERIC(12,6) instead of DECIMAL(5,4): (5,4) overflows beyond +/-9.9999 (a deep ITM call
--                   on a low strike) and rounds away the 0.5% threshold's precision; the store still clamps.
--   execution_price NUMERIC(12,4) instead of DECIMAL(10,2): average fill prices of partial fills have 4 decimals.
CREATE SCHEMA IF NOT EXISTS alm_reporting;

CREATE TABLE IF NOT EXISTS alm_reporting.cleanup_actions (
    id SERIAL PRIMARY KEY,
    action_timestamp TIMESTAMPTZ NOT NULL,
    position_symbol VARCHAR(50),
    strike DECIMAL(10,2),
    expiry DATE,
    moneyness NUMERIC(12,6),
    action_taken VARCHAR(20),          -- domain.audit.ActionKind value
    execution_price NUMERIC(12,4),
    success BOOLEAN,
    -- additions: the unique action id makes every write idempotent (ON CONFLICT (action_id) DO NOTHING)
    action_id TEXT NOT NULL UNIQUE,
    trade_date DATE NOT NULL,          -- action_timestamp's date in America/New_York: the session it belongs to
    account TEXT NOT NULL DEFAULT '',
    option_right CHAR(1),              -- C or P
    quantity INTEGER,                  -- signed position quantity, or order quantity for order actions
    mode TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    risk_score DOUBLE PRECISION,
    probability_itm DOUBLE PRECISION,
    order_ref TEXT,
    ib_order_id TEXT,
    reference_mid NUMERIC(12,4),
    slippage NUMERIC(12,4),
    pnl_impact NUMERIC(14,2),
    error TEXT,
    details JSONB NOT NULL DEFAULT '{}'::jsonb
);

-- Seed monitoring queries filter and group by action_timestamp (daily summary, "today's actions").
CREATE INDEX IF NOT EXISTS cleanup_actions_timestamp_idx ON alm_reporting.cleanup_actions (action_timestamp);
-- The summary view and the report group by session date.
CREATE INDEX IF NOT EXISTS cleanup_actions_trade_date_idx ON alm_reporting.cleanup_actions (trade_date, action_taken);
-- "What happened to this position / this order": lookups by contract and by order reference.
CREATE INDEX IF NOT EXISTS cleanup_actions_symbol_idx ON alm_reporting.cleanup_actions (position_symbol, action_timestamp);
CREATE INDEX IF NOT EXISTS cleanup_actions_order_ref_idx ON alm_reporting.cleanup_actions (order_ref)
    WHERE order_ref IS NOT NULL;

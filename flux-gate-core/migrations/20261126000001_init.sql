-- Flux-Gate schema. PostgreSQL is the truth about persisted orders.

CREATE TABLE products (
    id             text PRIMARY KEY,
    initial_stock  integer NOT NULL CHECK (initial_stock >= 0),
    -- initial_stock minus the orders persisted so far; the check is the last line of defence
    -- against overselling.
    stock          integer NOT NULL CHECK (stock >= 0),
    per_user_limit integer CHECK (per_user_limit IS NULL OR per_user_limit > 0),
    started_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    order_id        uuid PRIMARY KEY,
    idempotency_key text NOT NULL,
    product_id      text NOT NULL,
    user_id         text NOT NULL,
    reserved_at     timestamptz NOT NULL,
    persisted_at    timestamptz NOT NULL DEFAULT now(),
    -- Idempotency keys are scoped per product: the Redis record that guards them lives in the
    -- product's hash slot (see docs/decisions.md).
    CONSTRAINT orders_product_key UNIQUE (product_id, idempotency_key)
);

-- No other index: every index costs the worker's bulk insert; counting a product's orders uses
-- the unique index's leading column.

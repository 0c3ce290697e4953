-- Owners people are handed to, the rule per cohort, and every assignment once.
CREATE TABLE IF NOT EXISTS owners (
    project_id bigint NOT NULL,
    id text NOT NULL,
    name text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    daily_capacity integer NOT NULL DEFAULT 1 CHECK (daily_capacity >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

CREATE TABLE IF NOT EXISTS assignment_rules (
    project_id bigint NOT NULL,
    cohort_id text NOT NULL,
    strategy text NOT NULL,
    owner_ids text[] NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, cohort_id)
);

-- One row per entrant (idempotency_key); a parked row becomes assigned in place.
CREATE TABLE IF NOT EXISTS assignments (
    idempotency_key text PRIMARY KEY,
    project_id bigint NOT NULL,
    cohort_id text NOT NULL,
    person_id uuid NOT NULL,
    owner_id text,
    status text NOT NULL,
    strategy text NOT NULL,
    entered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS assignments_by_owner ON assignments (project_id, owner_id);

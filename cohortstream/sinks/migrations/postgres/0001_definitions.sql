-- Event and property definitions per project, as the query side lists them.
CREATE TABLE IF NOT EXISTS event_definitions (
    project_id bigint NOT NULL,
    name text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    volume bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE IF NOT EXISTS property_definitions (
    project_id bigint NOT NULL,
    name text NOT NULL,
    -- Numeric, String, Boolean or DateTime; the first type seen sticks.
    property_type text,
    first_seen_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    volume bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, name)
);

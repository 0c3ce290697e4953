-- Cohort definitions, as validated JSON. Workers load them every few seconds.
CREATE TABLE IF NOT EXISTS cohorts (
    project_id bigint NOT NULL,
    id text NOT NULL,
    definition jsonb NOT NULL,
    version integer NOT NULL DEFAULT 1,
    deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

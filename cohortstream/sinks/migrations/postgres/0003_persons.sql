-- Persons and their distinct_ids, written by the person stage in batches; rows
-- only move forward in version, so redelivered or reordered batches change nothing.
CREATE TABLE IF NOT EXISTS persons (
    project_id bigint NOT NULL,
    id uuid NOT NULL,
    properties jsonb NOT NULL DEFAULT '{}',
    is_identified boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE IF NOT EXISTS person_distinct_ids (
    project_id bigint NOT NULL,
    distinct_id text NOT NULL,
    person_id uuid NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (project_id, distinct_id)
);
CREATE INDEX IF NOT EXISTS person_distinct_ids_person ON person_distinct_ids (project_id, person_id);

-- Deleted rows leave their version behind, so a late older write cannot resurrect them.
CREATE TABLE IF NOT EXISTS deleted_persons (
    project_id bigint NOT NULL,
    id uuid NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);

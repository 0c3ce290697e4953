-- The projects events may belong to; events for any other project are dead-lettered.
CREATE TABLE IF NOT EXISTS projects (
    id bigint PRIMARY KEY CHECK (id > 0),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

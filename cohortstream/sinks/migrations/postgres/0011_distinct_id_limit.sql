-- The most distinct_ids one person of the project may have (NULL: no limit):
-- an attach or merge past it is refused with a warning.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS max_distinct_ids_per_person integer
    CHECK (max_distinct_ids_per_person IS NULL OR max_distinct_ids_per_person >= 1);

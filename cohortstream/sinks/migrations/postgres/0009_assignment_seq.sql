-- The rotation position an entrant was assigned at: a repeated transition (same
-- key, new offset) is recognised as counted already and moves the rotation no more.
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS seq bigint;

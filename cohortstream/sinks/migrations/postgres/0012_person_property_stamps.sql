-- When and how each person property was last written ({key: [event time us, event
-- uuid, "set"|"once"|"unset"]}), as the person stage orders writes by event time.
-- A person read back on cold start keeps them, so an earlier $set_once replayed
-- after a crash still wins over a later one stored before it. NULL (rows from
-- before, or from another system): every value counts as set before any event.
ALTER TABLE persons ADD COLUMN IF NOT EXISTS property_stamps jsonb;

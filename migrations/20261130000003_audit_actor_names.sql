-- "Who" matches a subject exactly or the start of a display name, case-insensitively: both sides
-- of that `or` get an index, so the planner combines them instead of reading every event.
create index audit_events_actor_name on audit_events (lower(actor_name) text_pattern_ops, seq);

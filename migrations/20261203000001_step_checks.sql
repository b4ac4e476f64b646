-- Each step that checks a request for conflicts (submission, every approval, delivery) keeps what
-- it compared the request with and what it found, on the timeline event it writes:
-- {"granted": n, "pending": n, "merged": n, "problems": [...]} (absent counts: not compared).
-- An approval refused because the world changed is itself a step: `conflict_found`.
alter table request_events add column checked jsonb;

alter table request_events drop constraint request_events_action_check;
alter table request_events add constraint request_events_action_check check (action in (
    'submitted', 'approved', 'rejected', 'withdrawn', 'commented',
    'delivering', 'pr_opened', 'pr_updated', 'merged', 'pr_closed', 'delivery_failed',
    'delivery_retried', 'synced', 'live', 'drifted', 'drift_resolved', 'conflict_found'
));

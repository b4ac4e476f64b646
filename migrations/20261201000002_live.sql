-- After the merge: the environment's Argo CD Application syncs the merge commit, the cluster holds
-- the generated objects as generated (live), and later edits in the cluster show as drift.
alter table request_events drop constraint request_events_action_check;
alter table request_events add constraint request_events_action_check check (action in (
    'submitted', 'approved', 'rejected', 'withdrawn', 'commented',
    'delivering', 'pr_opened', 'pr_updated', 'merged', 'pr_closed', 'delivery_failed',
    'delivery_retried', 'synced', 'live', 'drifted', 'drift_resolved'
));

alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in ('deliver', 'follow', 'notify', 'observe'));

-- What the cluster showed last: the revision Argo CD synced, when the objects were first seen
-- as generated, and the objects that differ from Git now (null: none).
alter table deliveries
    add column synced_revision text,
    add column live_at timestamptz,
    add column drift jsonb;

-- Notifications go through the job queue too: one `notify` job per notified timeline event,
-- carrying the event as it is sent. Several may wait for one request at once, so the
-- one-open-job-per-kind rule leaves them out.
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in ('deliver', 'follow', 'notify'));
alter table jobs add column payload jsonb;

drop index jobs_one_open;
create unique index jobs_one_open on jobs (request_id, kind)
    where done_at is null and kind <> 'notify';

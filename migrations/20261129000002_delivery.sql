-- Delivery: an approved request becomes a pull request of generated config in the GitOps
-- repository, followed until it is merged or closed.

-- The timeline records every delivery step too.
alter table request_events drop constraint request_events_action_check;
alter table request_events add constraint request_events_action_check check (action in (
    'submitted', 'approved', 'rejected', 'withdrawn', 'commented',
    'delivering', 'pr_opened', 'pr_updated', 'merged', 'pr_closed', 'delivery_failed',
    'delivery_retried'
));

-- The job queue. A job is created in the same transaction as the step that needs it (an approval
-- creates its delivery); workers in any replica take due jobs with `for update skip locked` and
-- hold a lease (`locked_until`) while they work, so a worker that dies mid-job, or loses its
-- connection, only delays the job until the lease ends. `attempts` counts failures in a row.
create table jobs (
    id bigint generated always as identity primary key,
    kind text not null check (kind in ('deliver', 'follow')),
    request_id uuid not null references requests (id),
    attempts integer not null default 0,
    run_after timestamptz not null default now(),
    locked_by text,
    locked_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    done_at timestamptz
);

-- At most one open job of each kind per request: enqueueing again moves the open one earlier.
create unique index jobs_one_open on jobs (request_id, kind) where done_at is null;
create index jobs_due on jobs (run_after, id) where done_at is null;

-- Workers sleep on LISTEN signalbox_jobs; every new job wakes them (at commit).
create function jobs_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify('signalbox_jobs', new.kind);
    return new;
end;
$$;

create trigger jobs_notify after insert on jobs
    for each row execute function jobs_notify();

-- The pull request (or, for a local repository, the branch) each delivered request has, and the
-- files its commit changed, as committed.
create table deliveries (
    request_id uuid primary key references requests (id),
    forge text not null,
    repository text not null,
    base_branch text not null,
    branch text not null,
    number bigint,
    url text,
    head_sha text not null,
    files jsonb not null default '[]',
    opened_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    merged_sha text,
    finished_at timestamptz
);

-- The review workflow: who decided what, the timeline of every request, and day-2 changes.

-- A change or removal names the granted request it replaces; `operation` says which it is.
-- `submission` is the id the form was rendered with, so a double click submits once.
alter table requests
    add column requester_name text not null default '',
    add column summary text not null default '',
    add column operation text not null default 'create'
        check (operation in ('create', 'change', 'remove')),
    add column supersedes uuid references requests (id),
    add column submission uuid unique,
    add constraint requests_day2_names_its_grant
        check ((operation = 'create') = (supersedes is null));

-- At most one change or removal waits for review per granted request.
create unique index requests_one_pending_day2 on requests (supersedes)
    where state = 'submitted';
-- "My requests" (requester or team, newest first) and the queue (oldest first) page by keyset.
create index requests_requester_created on requests (requester, created_at desc, id desc);
create index requests_team_created on requests (team, created_at desc, id desc);
create index requests_pending_created on requests (created_at, id) where state = 'submitted';
drop index requests_team;

-- One row per approval: an approver approves a request at most once.
create table request_approvals (
    request_id uuid not null references requests (id),
    approver text not null,
    approver_name text not null,
    reason text not null default '',
    decided_at timestamptz not null default now(),
    primary key (request_id, approver)
);

-- The timeline of each request, written in the same transaction as the change it records.
-- Append-only: the audit history is built on it.
create table request_events (
    id bigint generated always as identity primary key,
    request_id uuid not null references requests (id),
    at timestamptz not null default now(),
    actor text not null,
    actor_name text not null,
    action text not null check (action in (
        'submitted', 'approved', 'rejected', 'withdrawn', 'commented'
    )),
    from_state text,
    to_state text,
    body text not null default ''
);

create index request_events_request on request_events (request_id, id);

create function request_events_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'request_events is append-only: % refused', tg_op;
end;
$$;

create trigger request_events_append_only
    before update or delete on request_events
    for each row execute function request_events_refuse_change();

create trigger request_events_no_truncate
    before truncate on request_events
    for each statement execute function request_events_refuse_change();

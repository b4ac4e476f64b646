-- Requests for mesh changes, as submitted by a team and decided by approvers.
-- The payload is the request in its public format (see mesh::request); kind, environment and team are
-- copied out of it so the review queue and the conflict check can filter without parsing JSON.
create table requests (
    id uuid primary key,
    kind text not null check (kind in ('ApiRoute', 'Egress')),
    environment text not null,
    team text not null,
    requester text not null,
    justification text not null default '',
    payload jsonb not null,
    state text not null default 'submitted' check (state in (
        'submitted', 'approved', 'rejected', 'withdrawn', 'delivering', 'pr_open',
        'pr_closed', 'delivery_failed', 'merged', 'live'
    )),
    -- optimistic concurrency: every update bumps it and names the version it read
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index requests_environment_state on requests (environment, state);
create index requests_team on requests (team, created_at desc);

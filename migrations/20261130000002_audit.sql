-- The audit history: every step anyone (or Signalbox itself) took, one row each, in one hash
-- chain. `hash` is SHA-256 over the previous row's hash and this row's canonical content (see
-- backend/src/audit/chain.rs); rows are numbered by `seq` in chain order, assigned while the
-- writer holds the chain's lock, so concurrent writers never fork it. Rows are never updated
-- or deleted: a trigger refuses it, whoever asks.
create table audit_events (
    seq bigint primary key check (seq > 0),
    at timestamptz not null,
    -- Who: the provider's subject (or `signalbox` for background steps) and the display name.
    actor text not null,
    actor_name text not null,
    action text not null,
    -- What it concerns; a sign-in concerns no request.
    request_id uuid references requests (id),
    environment text,
    team text,
    host text,
    path text,
    namespace text,
    external_hosts text[] not null default '{}',
    before jsonb,
    after jsonb,
    detail text not null default '',
    -- Where it came from: the client address, its user agent, and the request id in our logs.
    source_address text,
    user_agent text,
    request_key text,
    prev_hash bytea not null check (octet_length(prev_hash) = 32),
    hash bytea not null unique check (octet_length(hash) = 32)
);

-- Newest first, by any one filter; the route prefix and external host for lineage.
create index audit_events_at on audit_events (at, seq);
create index audit_events_actor on audit_events (actor, seq);
create index audit_events_action on audit_events (action, seq);
create index audit_events_environment on audit_events (environment, seq);
create index audit_events_team on audit_events (team, seq);
create index audit_events_route on audit_events (host, path text_pattern_ops, seq);
create index audit_events_external_hosts on audit_events using gin (external_hosts);
create index audit_events_request on audit_events (request_id, seq);

create function audit_events_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_events is append-only: % refused', tg_op;
end;
$$;

create trigger audit_events_append_only
    before update or delete on audit_events
    for each row execute function audit_events_refuse_change();

create trigger audit_events_no_truncate
    before truncate on audit_events
    for each statement execute function audit_events_refuse_change();

-- Sign-in sessions, in the layout tower-sessions' Postgres store reads and writes, so sessions
-- survive restarts and are shared by every replica. Rows past expiry_date are deleted by a
-- background task.
create schema if not exists tower_sessions;

create table tower_sessions.session (
    id text primary key not null,
    data bytea not null,
    expiry_date timestamptz not null
);

create index session_expiry_date on tower_sessions.session (expiry_date);

-- Sessions keep only a SHA-256 hash of the id in the cookie: whoever reads this table (a backup,
-- a replica, a database administrator) cannot present a row as a session. The data moves to
-- jsonb so a user's sessions can be listed and ended by subject. The old rows cannot be carried
-- over (their data held the plain id): everyone signs in once more after this upgrade.
drop table tower_sessions.session;
drop schema tower_sessions;

create table sessions (
    id_hash bytea primary key check (octet_length(id_hash) = 32),
    data jsonb not null,
    expiry_date timestamptz not null,
    created_at timestamptz not null default now(),
    -- Who the session belongs to, once someone has signed in with it.
    subject text generated always as (data #>> '{signalbox.user,subject}') stored,
    issuer text generated always as (data #>> '{signalbox.user,issuer}') stored
);

create index sessions_expiry_date on sessions (expiry_date);
create index sessions_subject on sessions (subject) where subject is not null;

-- Request text a user asked the server to check without JavaScript: the form post stores it here
-- and redirects to /preview?draft=<id>, so the text never travels in a URL and nothing typed is
-- lost. Only the owner can open a draft; drafts older than a day are deleted as new ones arrive.
create table preview_drafts (
    id uuid primary key,
    owner text not null,
    body text not null,
    created_at timestamptz not null default now()
);

create index preview_drafts_created_at on preview_drafts (created_at);

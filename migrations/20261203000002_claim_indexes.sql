-- The claim reads (what is granted in an environment) look up, for each grant, whether a change or
-- removal replaced it; and the overview reads one kind of claim (onboardings) without every route.
create index requests_supersedes on requests (supersedes) where supersedes is not null;
create index requests_environment_kind on requests (environment, kind);

-- Authorization, JWT and tracing become request kinds.
alter table requests drop constraint requests_kind_check;
alter table requests add constraint requests_kind_check check (kind in ('ApiRoute', 'Egress', 'Onboarding', 'MutualTls', 'CircuitBreaker', 'TrafficSplit', 'Authorization', 'JwtAuthentication', 'Tracing'));

-- A team asks to onboard a further namespace with a request of its own kind.
alter table requests drop constraint requests_kind_check;
alter table requests add constraint requests_kind_check check (kind in ('ApiRoute', 'Egress', 'Onboarding'));

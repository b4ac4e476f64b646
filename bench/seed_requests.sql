-- 100,000 stored requests for bench/pages.sh: two teams, two environments, a year of history,
-- one in twenty still waiting for review, the rest decided or on their way to live. Alice asks
-- for team-a, Bob for team-b, as in the demo.
insert into requests (id, kind, environment, team, requester, requester_name, justification,
                      payload, state, summary, created_at, updated_at)
select gen_random_uuid(),
       'ApiRoute',
       env,
       team,
       case team when 'team-a' then 'demo:alice' else 'demo:bob' end,
       case team when 'team-a' then 'Alice Requester' else 'Bob Requester' end,
       'seeded for the benchmark',
       jsonb_build_object(
           'kind', 'ApiRoute', 'environment', env, 'team', team,
           'host', 'api.' || env || '.example.com', 'path', '/svc' || n, 'match', 'prefix',
           'target', jsonb_build_object('namespace', team, 'service', 'svc' || n, 'port', 8080)),
       case when n % 20 = 0 then 'submitted'
            when n % 20 = 1 then 'rejected'
            when n % 20 = 2 then 'withdrawn'
            else 'approved' end,
       'api.' || env || '.example.com/svc' || n || ' → ' || team || '/svc' || n || ':8080',
       now() - (n || ' minutes')::interval,
       now() - (n || ' minutes')::interval
from (
    select n,
           case when n % 2 = 0 then 'team-a' else 'team-b' end as team,
           case when n % 3 = 0 then 'prod' else 'dev' end as env
    from generate_series(1, 100000) as n
) seeded;

-- Settled before measuring: hint bits set and the visibility map current, so autovacuum does not
-- start in the middle of a run.
vacuum (analyze) requests;

//! The request workflow over HTTP, as the pages drive it: submitting, the rules of review, the
//! version check, withdrawing, comments, and changing or removing what was granted. Every
//! refusal is checked by the message the person sees.

use app::requests::{RequestPage, RequestView, StepOutcome, SubmitOutcome};
use signalbox_tests::TestApp;
use signalbox_tests::portal::Visitor;

/// An API route form as the page fills it.
struct Route<'a> {
    environment: &'a str,
    team: &'a str,
    path: &'a str,
    service: &'a str,
}

impl<'a> Route<'a> {
    fn dev(team: &'a str, path: &'a str) -> Self {
        Self {
            environment: "dev",
            team,
            path,
            service: "orders",
        }
    }

    fn prod(team: &'a str, path: &'a str) -> Self {
        Self {
            environment: "prod",
            ..Self::dev(team, path)
        }
    }
}

fn host_of(environment: &str) -> String {
    format!("api.{environment}.example.com")
}

async fn submit_route_with_key(
    visitor: &Visitor,
    route: &Route<'_>,
    key: &str,
    change_of: &str,
) -> SubmitOutcome {
    let host = host_of(route.environment);
    visitor
        .call(
            "submit_api",
            &[
                ("key", key),
                ("change_of", change_of),
                ("form[environment]", route.environment),
                ("form[host]", &host),
                ("form[team]", route.team),
                ("form[path]", route.path),
                ("form[path_match]", "prefix"),
                ("form[namespace]", route.team),
                ("form[service]", route.service),
                ("form[port]", "8080"),
                ("form[justification]", "the orders API goes live"),
            ],
        )
        .await
}

async fn submit_route(visitor: &Visitor, route: &Route<'_>) -> SubmitOutcome {
    let key = uuid::Uuid::new_v4().to_string();
    submit_route_with_key(visitor, route, &key, "").await
}

async fn submitted(visitor: &Visitor, route: &Route<'_>) -> String {
    match submit_route(visitor, route).await {
        SubmitOutcome::Submitted { id } => id,
        SubmitOutcome::Refused { problems } => panic!("refused: {problems:?}"),
    }
}

fn refused(outcome: SubmitOutcome) -> Vec<mesh::Problem> {
    match outcome {
        SubmitOutcome::Refused { problems } => problems,
        SubmitOutcome::Submitted { id } => panic!("accepted as {id}"),
    }
}

async fn view(visitor: &Visitor, id: &str) -> RequestView {
    visitor.call("load_request", &[("id", id)]).await
}

async fn decide(visitor: &Visitor, id: &str, decision: &str, reason: &str) -> StepOutcome {
    let version = view(visitor, id).await.version.to_string();
    decide_at(visitor, id, &version, decision, reason).await
}

async fn decide_at(
    visitor: &Visitor,
    id: &str,
    version: &str,
    decision: &str,
    reason: &str,
) -> StepOutcome {
    visitor
        .call(
            "decide_request",
            &[
                ("id", id),
                ("version", version),
                ("decision", decision),
                ("reason", reason),
            ],
        )
        .await
}

/// The message of a refused step; panics when the step was done.
fn refusal(outcome: StepOutcome) -> String {
    match outcome {
        StepOutcome::Refused { problems } => problems
            .iter()
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
            .join(" | "),
        StepOutcome::Done { message } => panic!("done: {message}"),
    }
}

fn done(outcome: StepOutcome) -> String {
    match outcome {
        StepOutcome::Done { message } => message,
        StepOutcome::Refused { problems } => panic!("refused: {problems:?}"),
    }
}

async fn state_of(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar::<_, String>("select state from requests where id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("request row")
}

async fn events_of(app: &TestApp, id: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(
        "select action from request_events where request_id = $1::uuid order by id",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .expect("events")
}

#[tokio::test]
async fn a_submitted_request_waits_for_review_with_its_first_event() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;

    let id = submitted(&alice, &Route::dev("team-a", "/orders/v1")).await;

    let request = view(&alice, &id).await;
    assert_eq!(request.state, "submitted");
    assert_eq!(
        request.summary,
        "api.dev.example.com/orders/v1 → team-a/orders:8080"
    );
    assert!(
        request.files.iter().any(|f| f
            .path
            .ends_with("virtualservice-api-dev-example-com-root.yaml")),
        "the request page lists the root VirtualService it changes"
    );
    assert_eq!(events_of(&app, &id).await, vec!["submitted"]);
    app.stop().await;
}

#[tokio::test]
async fn the_same_form_sent_twice_makes_one_request() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let key = uuid::Uuid::new_v4().to_string();
    let route = Route::dev("team-a", "/orders/v1");

    let first = submit_route_with_key(&alice, &route, &key, "").await;
    let second = submit_route_with_key(&alice, &route, &key, "").await;

    assert_eq!(
        first, second,
        "the second submit answers with the first request"
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from requests")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
    app.stop().await;
}

#[tokio::test]
async fn requesting_for_another_team_is_refused_under_the_team_field() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;

    let problems = refused(submit_route(&alice, &Route::dev("team-b", "/orders/v1")).await);

    assert_eq!(problems[0].field, "team");
    assert_eq!(
        problems[0].message,
        "you request for team-a; ask a member of team-b to request this"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_request_without_justification_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let outcome: SubmitOutcome = alice
        .call(
            "submit_api",
            &[
                ("key", &uuid::Uuid::new_v4().to_string()),
                ("change_of", ""),
                ("form[environment]", "dev"),
                ("form[host]", "api.dev.example.com"),
                ("form[team]", "team-a"),
                ("form[path]", "/orders/v1"),
                ("form[namespace]", "team-a"),
                ("form[service]", "orders"),
                ("form[port]", "8080"),
                ("form[justification]", "   "),
            ],
        )
        .await;

    let problems = refused(outcome);
    assert_eq!(problems[0].field, "justification");
    assert!(problems[0].message.starts_with("say why this is needed"));
    app.stop().await;
}

#[tokio::test]
async fn a_path_pending_for_another_team_is_a_conflict_naming_that_request() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let bob = app.visitor("bob").await;
    let held = submitted(&alice, &Route::dev("team-a", "/orders")).await;

    let problems = refused(submit_route(&bob, &Route::dev("team-b", "/orders/v1")).await);

    assert_eq!(problems[0].field, "path");
    assert_eq!(problems[0].kind, mesh::ProblemKind::Conflict);
    assert!(
        problems[0].message.contains("team team-a")
            && problems[0].message.contains(&format!("request {held}")),
        "{}",
        problems[0].message
    );
    app.stop().await;
}

#[tokio::test]
async fn nobody_decides_their_own_request_not_even_a_platform_admin() {
    let app = TestApp::spawn().await;
    let dave = app.visitor("dave").await;
    let id = submitted(&dave, &Route::dev("team-a", "/orders/v1")).await;

    let message = refusal(decide(&dave, &id, "approve", "").await);

    assert_eq!(
        message,
        "You made this request; someone else in platform-approvers or team-a-leads must decide"
    );
    assert_eq!(state_of(&app, &id).await, "submitted");
    app.stop().await;
}

#[tokio::test]
async fn an_approver_decides_only_in_their_environments() {
    let app = TestApp::spawn_with(|settings| {
        let prod = settings
            .environments
            .iter_mut()
            .find(|e| e.name == "prod")
            .expect("prod");
        prod.approval.approver_groups = vec!["prod-approvers".to_owned()];
    })
    .await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let id = submitted(&alice, &Route::prod("team-a", "/orders/v1")).await;

    let message = refusal(decide_at(&carol, &id, "1", "approve", "").await);

    assert_eq!(
        message,
        "You approve in dev; requests of team-a in prod are decided by someone in prod-approvers or team-a-leads"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_requester_cannot_decide_and_is_told_who_does() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let dave = app.visitor("dave").await;
    let id = submitted(&dave, &Route::dev("team-a", "/orders/v1")).await;

    let message = refusal(decide_at(&alice, &id, "1", "approve", "").await);

    assert_eq!(
        message,
        "You do not approve in dev or for team-a; someone in platform-approvers or team-a-leads must decide"
    );
    app.stop().await;
}

#[tokio::test]
async fn prod_needs_two_different_approvers() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let dave = app.visitor("dave").await;
    let id = submitted(&alice, &Route::prod("team-a", "/orders/v1")).await;

    let first = done(decide(&carol, &id, "approve", "looks right").await);
    assert_eq!(
        first,
        "You approved this request; it waits for more approvals."
    );
    assert_eq!(state_of(&app, &id).await, "submitted");
    let again = refusal(decide(&carol, &id, "approve", "").await);
    assert_eq!(
        again,
        "You already approved this request; it needs 2 approvals from different people, so \
         someone else in platform-approvers or team-a-leads must approve it too"
    );

    let second = done(decide(&dave, &id, "approve", "").await);

    assert_eq!(second, "You approved this request; it is approved.");
    assert_eq!(state_of(&app, &id).await, "approved");
    assert_eq!(
        events_of(&app, &id).await,
        vec!["submitted", "approved", "approved"]
    );
    let seen_by_alice = view(&alice, &id).await;
    assert_eq!(
        seen_by_alice.approvals,
        vec!["Carol Approver", "Dave Admin"]
    );
    app.stop().await;
}

#[tokio::test]
async fn one_rejection_ends_the_request_and_needs_a_reason() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let dave = app.visitor("dave").await;
    let id = submitted(&alice, &Route::prod("team-a", "/orders/v1")).await;
    let version = view(&carol, &id).await.version.to_string();

    let without_reason = refusal(decide_at(&carol, &id, &version, "reject", " ").await);
    assert_eq!(
        without_reason,
        "say why you reject it; the requester reads it to fix the request"
    );
    done(decide_at(&carol, &id, &version, "reject", "use /orders/v2").await);

    let late = refusal(decide_at(&dave, &id, &version, "approve", "").await);
    assert!(
        late.starts_with("Carol Approver rejected this request")
            && late.contains("it is rejected now"),
        "{late}"
    );
    assert_eq!(state_of(&app, &id).await, "rejected");
    app.stop().await;
}

#[tokio::test]
async fn a_decision_on_an_old_version_is_told_who_decided_first() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let dave = app.visitor("dave").await;
    let id = submitted(&alice, &Route::prod("team-a", "/orders/v1")).await;
    let seen_by_dave = view(&dave, &id).await.version.to_string();
    done(decide(&carol, &id, "approve", "").await);

    let message = refusal(decide_at(&dave, &id, &seen_by_dave, "approve", "").await);

    assert!(
        message.starts_with("Carol Approver approved this request")
            && message.contains("it is waiting for review now"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn conflicts_are_checked_again_when_approving() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let id = submitted(&alice, &Route::dev("team-a", "/orders/v1")).await;
    // Meanwhile team-b was granted /orders outside this request's review (recorded by hand).
    let payload = serde_json::json!({
        "kind": "ApiRoute", "environment": "dev", "team": "team-b",
        "host": "api.dev.example.com", "path": "/orders", "match": "prefix",
        "target": {"namespace": "team-b", "service": "legacy", "port": 80}
    });
    sqlx::query(
        "insert into requests (id, kind, environment, team, requester, payload, state, created_at)
         values (gen_random_uuid(), 'ApiRoute', 'dev', 'team-b', 'demo:bob', $1, 'approved',
                 now() - interval '1 day')",
    )
    .bind(payload)
    .execute(&app.pool)
    .await
    .expect("grant inserted");

    let message = refusal(decide(&carol, &id, "approve", "").await);

    assert!(
        message.contains("falls under prefix /orders")
            && message.contains("granted since this request was submitted"),
        "{message}"
    );
    assert_eq!(state_of(&app, &id).await, "submitted");
    // The refused approval is a step of its own: everyone sees on the timeline what the check
    // found, and the approval did not count.
    assert_eq!(
        events_of(&app, &id).await,
        vec!["submitted", "conflict_found"]
    );
    let seen = view(&alice, &id).await;
    assert!(seen.approvals.is_empty());
    let found = seen.timeline.last().expect("the refused approval");
    assert_eq!(found.actor_name, "Carol Approver");
    let check = found.check.as_ref().expect("the check it ran");
    assert_eq!(
        check.text,
        "Checked again against 1 granted request in dev: 1 conflict."
    );
    // The timeline keeps the facts; what to do about them was the approver's message.
    assert!(
        check.problems[0]
            .message
            .contains("falls under prefix /orders")
            && !check.problems[0].message.contains("withdraw"),
        "{:?}",
        check.problems
    );
    app.stop().await;
}

#[tokio::test]
async fn every_step_keeps_the_conflict_check_it_ran() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let bob = app.visitor("bob").await;
    let carol = app.visitor("carol").await;
    let dave = app.visitor("dave").await;
    let granted = submitted(&alice, &Route::prod("team-a", "/payments")).await;
    done(decide(&carol, &granted, "approve", "").await);
    done(decide(&dave, &granted, "approve", "").await);
    submitted(&bob, &Route::prod("team-b", "/billing")).await;

    let id = submitted(&alice, &Route::prod("team-a", "/orders/v1")).await;
    done(decide(&carol, &id, "approve", "").await);
    done(decide(&dave, &id, "approve", "").await);

    let seen = view(&alice, &id).await;
    // (Delivery may have started meanwhile; its steps are checked in the delivery tests.)
    let checks: Vec<(&str, Option<&str>)> = seen
        .timeline
        .iter()
        .take(3)
        .map(|entry| {
            (
                entry.action.as_str(),
                entry.check.as_ref().map(|check| check.text.as_str()),
            )
        })
        .collect();
    assert_eq!(
        checks,
        vec![
            (
                "submitted",
                Some("Compared with 1 granted request and 1 waiting request in prod: no conflict.")
            ),
            (
                "approved",
                Some("Checked again against 1 granted request in prod: no conflict.")
            ),
            (
                "approved",
                Some("Checked again against 1 granted request in prod: no conflict.")
            ),
        ]
    );
    // A comment checks nothing and says nothing about conflicts.
    done(
        alice
            .call::<StepOutcome>(
                "comment_on_request",
                &[("id", id.as_str()), ("body", "thanks")],
            )
            .await,
    );
    let seen = view(&alice, &id).await;
    assert_eq!(seen.timeline.last().map(|e| e.check.is_none()), Some(true));
    app.stop().await;
}

#[tokio::test]
async fn the_requester_withdraws_a_pending_request_but_not_a_decided_one() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let first = submitted(&alice, &Route::dev("team-a", "/orders/v1")).await;
    let second = submitted(&alice, &Route::dev("team-a", "/payments")).await;
    done(decide(&carol, &second, "approve", "").await);

    let version = view(&carol, &first).await.version.to_string();
    let by_approver = refusal(
        carol
            .call(
                "withdraw_request",
                &[("id", first.as_str()), ("version", version.as_str())],
            )
            .await,
    );
    assert_eq!(
        by_approver,
        "Only the requester or their team may withdraw a request; reject it instead"
    );
    let withdrawn: StepOutcome = alice
        .call(
            "withdraw_request",
            &[("id", first.as_str()), ("version", version.as_str())],
        )
        .await;
    assert_eq!(done(withdrawn), "You withdrew this request.");
    assert_eq!(state_of(&app, &first).await, "withdrawn");

    let version = view(&alice, &second).await.version.to_string();
    let too_late = refusal(
        alice
            .call(
                "withdraw_request",
                &[("id", second.as_str()), ("version", version.as_str())],
            )
            .await,
    );
    assert!(too_late.contains("it is approved now"), "{too_late}");
    app.stop().await;
}

#[tokio::test]
async fn comments_join_the_conversation_of_people_who_may_see_the_request() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let bob = app.visitor("bob").await;
    let carol = app.visitor("carol").await;
    let id = submitted(&alice, &Route::dev("team-a", "/orders/v1")).await;

    done(
        carol
            .call(
                "comment_on_request",
                &[("id", id.as_str()), ("body", "why not v2?")],
            )
            .await,
    );
    let outsider = refusal(
        bob.call(
            "comment_on_request",
            &[("id", id.as_str()), ("body", "hello")],
        )
        .await,
    );

    assert_eq!(outsider, "there is no such request, or you may not see it");
    let timeline = view(&alice, &id).await.timeline;
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[1].actor_name, "Carol Approver");
    assert_eq!(timeline[1].body, "why not v2?");
    let (status, _) = bob.page(&format!("/requests/{id}")).await;
    assert_eq!(status, 404, "another team's request is not shown");
    app.stop().await;
}

#[tokio::test]
async fn my_requests_and_the_queue_list_what_each_person_may_see() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let bob = app.visitor("bob").await;
    let carol = app.visitor("carol").await;
    let orders = submitted(&alice, &Route::dev("team-a", "/orders")).await;
    let payments = submitted(&bob, &Route::dev("team-b", "/payments")).await;

    let mine: RequestPage = alice
        .call(
            "my_requests",
            &[("state", ""), ("environment", ""), ("before", "")],
        )
        .await;
    let queue: RequestPage = carol
        .call(
            "approver_queue",
            &[
                ("environment", ""),
                ("team", ""),
                ("kind", ""),
                ("after", ""),
            ],
        )
        .await;
    let queue_for_bob: RequestPage = carol
        .call(
            "approver_queue",
            &[
                ("environment", "dev"),
                ("team", "team-b"),
                ("kind", ""),
                ("after", ""),
            ],
        )
        .await;

    let ids = |page: &RequestPage| page.rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&mine), vec![orders.clone()]);
    assert_eq!(ids(&queue), vec![orders, payments.clone()], "oldest first");
    assert_eq!(ids(&queue_for_bob), vec![payments]);
    let count: i64 = carol.call("waiting_count", &[]).await;
    assert_eq!(count, 2);
    app.stop().await;
}

#[tokio::test]
async fn the_navigation_count_follows_every_step_at_once() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let count = || async { carol.call::<i64>("waiting_count", &[]).await };
    assert_eq!(count().await, 0);

    let first = submitted(&alice, &Route::dev("team-a", "/orders/v1")).await;
    assert_eq!(count().await, 1, "a submission counts at once");
    let second = submitted(&alice, &Route::dev("team-a", "/payments")).await;
    assert_eq!(count().await, 2);
    done(decide(&carol, &first, "approve", "").await);
    assert_eq!(count().await, 1, "a decision counts at once");
    let version = view(&alice, &second).await.version.to_string();
    done(
        alice
            .call::<StepOutcome>(
                "withdraw_request",
                &[("id", second.as_str()), ("version", version.as_str())],
            )
            .await,
    );
    assert_eq!(count().await, 0, "a withdrawal counts at once");
    app.stop().await;
}

#[tokio::test]
async fn my_requests_page_by_keyset_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let mut made = Vec::new();
    for i in 0..30 {
        made.push(submitted(&alice, &Route::dev("team-a", &format!("/svc{i}"))).await);
    }
    made.reverse();

    let first: RequestPage = alice
        .call(
            "my_requests",
            &[("state", ""), ("environment", ""), ("before", "")],
        )
        .await;
    let cursor = first.next.clone().expect("an older page");
    let second: RequestPage = alice
        .call(
            "my_requests",
            &[
                ("state", ""),
                ("environment", ""),
                ("before", cursor.as_str()),
            ],
        )
        .await;

    let listed: Vec<String> = first
        .rows
        .iter()
        .chain(&second.rows)
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(listed, made);
    assert_eq!(second.next, None);
    app.stop().await;
}

/// A granted route: submitted by alice and approved by carol in dev.
async fn granted_route(app: &TestApp, path: &str) -> (Visitor, Visitor, String) {
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let id = submitted(&alice, &Route::dev("team-a", path)).await;
    done(decide(&carol, &id, "approve", "").await);
    merged(app, &id).await;
    (alice, carol, id)
}

/// Marks an approved request's pull request merged, as delivery does once the platform team merges
/// it (no delivery worker runs in these tests).
async fn merged(app: &TestApp, id: &str) {
    sqlx::query("update requests set state = 'merged', version = version + 1 where id = $1::uuid")
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("marked merged");
}

#[tokio::test]
async fn a_grant_is_changed_or_removed_only_once_its_pull_request_is_merged() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let grant = submitted(&alice, &Route::dev("team-a", "/orders")).await;
    done(decide(&carol, &grant, "approve", "").await);

    let page = view(&alice, &grant).await;
    assert!(!page.may_change && !page.may_remove && page.day2_waits);
    let changed = Route {
        service: "orders-v2",
        ..Route::dev("team-a", "/orders")
    };
    let key = uuid::Uuid::new_v4().to_string();
    let early = refused(submit_route_with_key(&alice, &changed, &key, &grant).await);
    let message = early
        .iter()
        .map(|p| p.message.clone())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(
        message.contains("its pull request is not merged yet (it waits to be delivered)"),
        "{message}"
    );
    let key = uuid::Uuid::new_v4().to_string();
    let removal: SubmitOutcome = alice
        .call(
            "remove_grant",
            &[
                ("key", key.as_str()),
                ("id", grant.as_str()),
                ("justification", "retired"),
            ],
        )
        .await;
    let message = refused(removal)
        .iter()
        .map(|p| p.message.clone())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(message.contains("not merged yet"), "{message}");

    merged(&app, &grant).await;
    let page = view(&alice, &grant).await;
    assert!(page.may_change && page.may_remove && !page.day2_waits);
    let key = uuid::Uuid::new_v4().to_string();
    assert!(matches!(
        submit_route_with_key(&alice, &changed, &key, &grant).await,
        SubmitOutcome::Submitted { .. }
    ));
    app.stop().await;
}

#[tokio::test]
async fn a_granted_route_can_be_changed_through_the_same_review() {
    let app = TestApp::spawn().await;
    let (alice, carol, grant) = granted_route(&app, "/orders").await;
    let changed = Route {
        service: "orders-v2",
        ..Route::dev("team-a", "/orders")
    };

    let change =
        match submit_route_with_key(&alice, &changed, &uuid::Uuid::new_v4().to_string(), &grant)
            .await
        {
            SubmitOutcome::Submitted { id } => id,
            SubmitOutcome::Refused { problems } => panic!("{problems:?}"),
        };
    let page = view(&carol, &change).await;
    assert_eq!(page.operation, "change");
    let delegate = page
        .files
        .iter()
        .find(|f| f.path == "dev/team-a/virtualservice-api-dev-example-com.yaml")
        .expect("the delegate changes");
    assert!(
        delegate
            .lines
            .iter()
            .any(|l| l.change == mesh::changes::LineChange::Added && l.text.contains("orders-v2")),
        "the diff marks the new destination"
    );
    done(decide(&carol, &change, "approve", "").await);

    let claims = backend::requests::existing_claims(&app.pool, "dev")
        .await
        .expect("claims");
    let granted: Vec<String> = claims.granted.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(
        granted,
        vec![change.clone()],
        "the change replaces the grant"
    );
    let original = view(&alice, &grant).await;
    assert_eq!(original.replaced_by.as_deref(), Some(change.as_str()));
    assert!(
        !original.may_change && !original.may_remove,
        "a replaced grant offers no change or removal of its own"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_change_keeps_the_path_and_one_waits_at_a_time() {
    let app = TestApp::spawn().await;
    let (alice, _carol, grant) = granted_route(&app, "/orders").await;

    let moved = refused(
        submit_route_with_key(
            &alice,
            &Route::dev("team-a", "/shop"),
            &uuid::Uuid::new_v4().to_string(),
            &grant,
        )
        .await,
    );
    assert_eq!(moved[0].field, "path");
    assert!(
        moved[0]
            .message
            .starts_with("a change keeps api.dev.example.com/orders (prefix)"),
        "{}",
        moved[0].message
    );
    let changed = Route {
        service: "orders-v2",
        ..Route::dev("team-a", "/orders")
    };
    submit_route_with_key(&alice, &changed, &uuid::Uuid::new_v4().to_string(), &grant).await;

    let second = refused(
        submit_route_with_key(&alice, &changed, &uuid::Uuid::new_v4().to_string(), &grant).await,
    );
    assert_eq!(
        second[0].message,
        "a change or removal of this grant already waits for review; withdraw it first"
    );
    app.stop().await;
}

#[tokio::test]
async fn removing_a_grant_is_reviewed_and_the_path_stays_held_until_delivered() {
    let app = TestApp::spawn().await;
    let (alice, carol, grant) = granted_route(&app, "/orders").await;
    let bob = app.visitor("bob").await;

    let removal: SubmitOutcome = alice
        .call(
            "remove_grant",
            &[
                ("key", &uuid::Uuid::new_v4().to_string()),
                ("id", grant.as_str()),
                ("justification", "orders moved to the new shop"),
            ],
        )
        .await;
    let SubmitOutcome::Submitted { id: removal } = removal else {
        panic!("{removal:?}")
    };
    let page = view(&carol, &removal).await;
    assert_eq!(page.operation, "remove");
    assert!(
        page.files
            .iter()
            .any(|f| f.status == mesh::changes::FileStatus::Removed),
        "the removal deletes the delegate: {:?}",
        page.files
            .iter()
            .map(|f| (&f.path, f.status))
            .collect::<Vec<_>>()
    );
    done(decide(&carol, &removal, "approve", "").await);

    let problems = refused(submit_route(&bob, &Route::dev("team-b", "/orders")).await);
    assert!(
        problems[0].message.contains(&format!("request {grant}")),
        "the path stays team-a's until the removal is delivered: {}",
        problems[0].message
    );
    app.stop().await;
}

#[tokio::test]
async fn another_team_may_not_change_a_grant() {
    let app = TestApp::spawn().await;
    let (_alice, _carol, grant) = granted_route(&app, "/orders").await;
    let bob = app.visitor("bob").await;

    let outcome: SubmitOutcome = bob
        .call(
            "remove_grant",
            &[
                ("key", &uuid::Uuid::new_v4().to_string()),
                ("id", grant.as_str()),
                ("justification", "mine now"),
            ],
        )
        .await;

    assert_eq!(
        refused(outcome)[0].message,
        "there is no such request, or you may not see it"
    );
    app.stop().await;
}

#[tokio::test]
async fn timeline_events_cannot_be_edited_or_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let id = submitted(&alice, &Route::dev("team-a", "/orders/v1")).await;

    let update = sqlx::query("update request_events set body = 'edited'")
        .execute(&app.pool)
        .await;
    let delete = sqlx::query("delete from request_events")
        .execute(&app.pool)
        .await;

    for result in [update, delete] {
        let error = result.expect_err("refused").to_string();
        assert!(error.contains("append-only"), "{error}");
    }
    assert_eq!(events_of(&app, &id).await, vec!["submitted"]);
    app.stop().await;
}

const TWO_REQUESTS: &str = "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: /orders\ntarget: {namespace: team-a, service: orders, port: 8080}\n---\nkind: Egress\nenvironment: dev\nteam: team-a\nnamespace: team-a\nhosts: [api.stripe.com]\nports: [{number: 443, protocol: TLS}]\n";

async fn submit_yaml(
    visitor: &Visitor,
    key: &str,
    text: &str,
    justification: &str,
) -> app::pages::preview::YamlSubmitOutcome {
    visitor
        .call(
            "submit_yaml",
            &[
                ("key", key),
                ("request", text),
                ("justification", justification),
            ],
        )
        .await
}

async fn count_requests(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from requests")
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn the_yaml_editor_asks_for_review_of_every_document_at_once() {
    use app::pages::preview::YamlSubmitOutcome;
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let key = uuid::Uuid::new_v4().to_string();

    let YamlSubmitOutcome::Submitted { ids } =
        submit_yaml(&alice, &key, TWO_REQUESTS, "launch").await
    else {
        panic!("refused");
    };
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert_eq!(state_of(&app, id).await, "submitted");
        assert_eq!(events_of(&app, id).await, ["submitted"]);
    }
    // The same form sent again (a double click) stores nothing new.
    let again = submit_yaml(&alice, &key, TWO_REQUESTS, "launch").await;
    assert_eq!(again, YamlSubmitOutcome::Submitted { ids: ids.clone() });
    assert_eq!(count_requests(&app).await, 2);

    // All or none: a later document that is refused keeps the earlier ones out too.
    let conflicting = TWO_REQUESTS
        .replace("path: /orders", "path: /payments")
        .replace("api.stripe.com", "api.paypal.com")
        + "---\nkind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: /payments/v1\nmatch: exact\ntarget: {namespace: team-b, service: pay, port: 80}\n";
    let key = uuid::Uuid::new_v4().to_string();
    let YamlSubmitOutcome::Refused { problems } =
        submit_yaml(&alice, &key, &conflicting, "launch").await
    else {
        panic!("accepted");
    };
    assert!(
        problems.iter().any(|p| p
            .source
            .as_deref()
            .is_some_and(|s| s.contains("document 3"))
            || p.field.contains("namespace")),
        "the third document is named: {problems:?}"
    );
    assert_eq!(
        count_requests(&app).await,
        2,
        "nothing of the refused text was stored"
    );

    // Another team, and no justification, are refused with their field.
    let key = uuid::Uuid::new_v4().to_string();
    let YamlSubmitOutcome::Refused { problems } =
        submit_yaml(&alice, &key, &TWO_REQUESTS.replace("team-a", "team-b"), "").await
    else {
        panic!("accepted");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"justification"), "{problems:?}");
    let key = uuid::Uuid::new_v4().to_string();
    let YamlSubmitOutcome::Refused { problems } = submit_yaml(
        &alice,
        &key,
        &TWO_REQUESTS.replace("team-a", "team-b"),
        "why",
    )
    .await
    else {
        panic!("accepted");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.field == "team" && p.message.contains("you do not request for team-b")),
        "{problems:?}"
    );
    assert_eq!(count_requests(&app).await, 2);
    app.stop().await;
}

use signalbox_tests::TestApp;

/// The preview page checking team-a's request for `/orders/v1` on the dev host.
const ORDERS_ROUTE_PREVIEW: &str = "/preview?request=kind%3A%20ApiRoute%0Aenvironment%3A%20dev%0Ateam%3A%20team-a%0Ahost%3A%20api.dev.example.com%0Apath%3A%20%2Forders%2Fv1%0Amatch%3A%20prefix%0Atarget%3A%20%7Bnamespace%3A%20team-a%2C%20service%3A%20orders%2C%20port%3A%208080%7D%0A";

#[tokio::test]
async fn the_start_page_is_rendered_on_the_server_with_the_environments() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;

    let response = app.get("/").await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("api.dev.example.com"), "{html}");
    assert!(html.contains("api.prod.example.com"));
    assert!(
        html.contains("/pkg/signalbox.js"),
        "the page loads the hydration bundle"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_page_is_a_helpful_404() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;

    let response = app.get("/no/such/page").await;

    assert_eq!(response.status(), 404);
    let html = response.text().await.expect("body");
    assert!(html.contains("Page not found"));
    assert!(
        html.contains("/no/such/page"),
        "the page names the path that was asked for"
    );
    assert!(
        html.contains("href=\"/\""),
        "the page links back to the start"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_internal_error_shows_a_reference_id_and_no_details() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    // The check reads stored requests; without their table the server fails on its side.
    sqlx::query("drop table requests")
        .execute(&app.pool)
        .await
        .expect("dropped");

    let response = app.get(ORDERS_ROUTE_PREVIEW).await;

    let html = response.text().await.expect("body");
    assert!(html.contains("Something went wrong on our side"), "{html}");
    let reference = html
        .split("give your platform team this reference: ")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .expect("a reference id is shown");
    assert_eq!(reference.len(), 12);
    assert!(
        !html.contains("does not exist") && !html.contains("sqlx"),
        "no internals leak: {html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_server_check_refuses_a_route_that_conflicts_with_a_granted_one() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    let granted = serde_json::json!({
        "kind": "ApiRoute", "environment": "dev", "team": "team-b",
        "host": "api.dev.example.com", "path": "/orders", "match": "prefix",
        "target": {"namespace": "team-b", "service": "orders", "port": 8080}
    });
    let stored_id = uuid::Uuid::new_v4();
    sqlx::query(
        "insert into requests (id, kind, environment, team, requester, payload, state) \
         values ($1, 'ApiRoute', 'dev', 'team-b', 'someone', $2, 'live')",
    )
    .bind(stored_id)
    .bind(&granted)
    .execute(&app.pool)
    .await
    .expect("insert");

    let response = app.get(ORDERS_ROUTE_PREVIEW).await;

    let html = response.text().await.expect("body");
    assert!(html.contains("The server refuses this request"), "{html}");
    assert!(
        html.contains("team-b"),
        "the conflict names the owner: {html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_server_check_refuses_a_request_for_someone_elses_team() {
    let app = TestApp::spawn().await;
    app.sign_in_as("bob").await;

    let response = app.get(ORDERS_ROUTE_PREVIEW).await;

    let html = response.text().await.expect("body");
    assert!(html.contains("The server refuses this request"), "{html}");
    assert!(html.contains("you request for team-b"), "{html}");
    app.stop().await;
}

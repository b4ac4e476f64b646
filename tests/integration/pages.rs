use signalbox_tests::TestApp;

/// team-a's request for `/orders/v1` on the dev host: the example the preview starts with.
const ORDERS_ROUTE: &str = app::pages::preview::EXAMPLE_REQUEST;

/// Asks for "Check with the server" the way a browser without JavaScript does (a plain form post),
/// follows the redirect, and returns the page that shows the result.
async fn check_without_javascript(app: &TestApp, text: &str) -> String {
    let (_, path) = server::http::route_inventory()
        .into_iter()
        .find(|(_, path)| path.starts_with("/api/check_request"))
        .expect("the check server function is routed");
    let posted = app
        .client
        .post(app.url(&path))
        .header("accept", "text/html")
        .header("referer", app.url("/preview"))
        .form(&[("request", text)])
        .send()
        .await
        .expect("sent");
    assert_eq!(posted.status(), 302);
    let location = posted.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.starts_with("/preview?draft="), "{location}");
    assert!(
        !location.contains("orders"),
        "the text stays out of the URL: {location}"
    );
    app.get(&location).await.text().await.expect("body")
}

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
        !html.contains("/pkg/signalbox.js"),
        "the overview is complete as rendered: it loads no wasm"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_the_pages_that_work_in_the_browser_load_the_bundle() {
    let app = TestApp::spawn().await;
    // The first page anyone sees loads no wasm: signed out, the sign-in page.
    let html = app.get("/sign-in").await.text().await.expect("body");
    assert!(html.contains("/pkg/signalbox.css"), "the stylesheet loads");
    assert!(!html.contains("/pkg/signalbox.js"), "{html}");
    assert!(!html.contains("signalbox_bg.wasm"), "{html}");
    app.sign_in_as("alice").await;
    for (path, hydrates) in [
        ("/", false),
        ("/requests", false),
        ("/queue", false),
        ("/audit", false),
        ("/account", false),
        ("/requests/new/api", true),
        ("/requests/new/egress", true),
        ("/preview", true),
    ] {
        let html = app.get(path).await.text().await.expect("body");
        assert_eq!(html.contains("/pkg/signalbox.js"), hydrates, "{path}");
    }
    for path in ["/sign-in", "/", "/requests/new/api"] {
        assert_eq!(app::hydrates(path), path == "/requests/new/api", "{path}");
    }
    assert!(app::hydrates(
        "/requests/0192b1c4-7a4e-7000-8000-000000000000"
    ));
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
    sqlx::query("drop table requests cascade")
        .execute(&app.pool)
        .await
        .expect("dropped");

    let html = check_without_javascript(&app, ORDERS_ROUTE).await;

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

    let html = check_without_javascript(&app, ORDERS_ROUTE).await;

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

    let html = check_without_javascript(&app, ORDERS_ROUTE).await;

    assert!(html.contains("The server refuses this request"), "{html}");
    assert!(html.contains("you request for team-b"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn a_draft_opens_only_for_its_owner() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    let text = ORDERS_ROUTE.replace("/orders/v1", "/invoices/v9");
    let html = check_without_javascript(&app, &text).await;
    assert!(
        html.contains("/invoices/v9"),
        "the owner sees the text kept: {html}"
    );
    let draft: uuid::Uuid = sqlx::query_scalar("select id from preview_drafts")
        .fetch_one(&app.pool)
        .await
        .expect("one draft");
    app.client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("signs out");
    app.sign_in_as("bob").await;

    let html = app
        .get(&format!("/preview?draft={draft}"))
        .await
        .text()
        .await
        .expect("body");

    assert!(html.contains("no longer available"), "{html}");
    assert!(
        !html.contains("/invoices/v9"),
        "bob does not see alice's text"
    );
    app.stop().await;
}

//! The request loop in headless Chromium with the demo personas: a requester fills the form
//! field by field and asks for review, two approvers decide in prod, the requester sees the
//! outcome, and another team sees the conflict while typing. Also the form without JavaScript,
//! and axe-core on every page.

use fantoccini::Locator;
use signalbox_tests::TestApp;
use signalbox_tests::browser::{Browser, Scripts};

async fn sign_in(browser: &Browser, app: &TestApp, persona: &str, path: &str) {
    browser.sign_in_as(&app.address, persona, path).await;
    browser.wait_for("[data-hydrated=true]").await;
}

async fn field_value(browser: &Browser, css: &str) -> String {
    browser
        .wait_for(css)
        .await
        .prop("value")
        .await
        .expect("reads the value")
        .unwrap_or_default()
}

#[tokio::test]
async fn a_prod_request_goes_from_the_form_through_two_approvals_to_a_pull_request() {
    // One delivery worker, as in the demo: the local git repository is the forge.
    let app = TestApp::spawn_with(|settings| settings.delivery.workers = 1).await;
    let browser = Browser::start(Scripts::Enabled).await;

    // Alice fills the form field by field.
    sign_in(&browser, &app, "alice", "/requests/new/api").await;
    browser.choose("#environment", "prod").await;
    assert_eq!(field_value(&browser, "#host").await, "api.prod.example.com");
    browser.fill("#path", "/orders v1").await;
    browser.click("#service").await;
    let message = browser.wait_for_text("#path-messages", "/").await;
    assert!(
        !message.trim().is_empty(),
        "leaving the path shows its message"
    );
    browser.fill("#path", "/orders/v1").await;
    browser.wait_until_empty("#path-messages").await;
    browser.fill("#service", "orders").await;
    browser.fill("#port", "8080").await;
    let preview = browser
        .wait_for_text("#preview-output", "api.prod.example.com")
        .await;
    assert!(preview.contains("/orders/v1"), "{preview}");
    assert!(
        preview.contains("orders.team-a.svc.cluster.local"),
        "{preview}"
    );
    browser
        .fill("#justification", "the orders API goes live")
        .await;
    browser.click("#ask-for-review").await;
    browser.wait_for("#request-summary").await;
    let path = browser.path().await;
    let id = path
        .strip_prefix("/requests/")
        .expect("on the request page")
        .to_owned();
    let waiting = browser
        .wait_for_text("#approval-waiting", "Waits for")
        .await;
    assert!(waiting.contains("2 approvals"), "{waiting}");

    // Carol approves first: the request still waits for a second approver.
    sign_in(&browser, &app, "carol", &path).await;
    browser.click("#decide-button").await;
    browser
        .wait_for_text("#step-message", "waits for more approvals")
        .await;
    browser
        .wait_for_text("#approval-progress", "1 of 2 approvals: Carol Approver")
        .await;

    // Dave approves second.
    sign_in(&browser, &app, "dave", &path).await;
    browser.click("#decide-button").await;
    browser
        .wait_for_text("#step-message", "it is approved")
        .await;

    // Without a reload, Dave's page shows the pull request: the commit on the request's branch
    // in the local repository, and the files as committed.
    let commit = browser.wait_for_text("#pull-commit", "").await;
    assert_eq!(commit.trim().len(), 12, "a short commit id: {commit}");
    let branch = browser
        .wait_for_text("#pull-branch", "signalbox/prod/")
        .await;
    assert!(branch.contains(&id.replace('-', "")), "{branch}");
    browser
        .wait_for_text("#committed-heading", "Files as committed")
        .await;
    browser
        .wait_for_text(".request-head .label", "Pull request open")
        .await;

    // Alice sees it approved and its pull request open.
    sign_in(&browser, &app, "alice", &path).await;
    let label = browser
        .wait_for_text(".request-head .label", "Pull request open")
        .await;
    assert_eq!(label, "Pull request open");
    let timeline = browser.wait_for_text("#timeline", "Dave Admin").await;
    assert!(timeline.contains("opened the pull request"), "{timeline}");
    assert!(timeline.contains("Carol Approver approved"), "{timeline}");

    // Bob, typing the same path for team-b, sees the conflict before submitting.
    sign_in(&browser, &app, "bob", "/requests/new/api").await;
    browser.choose("#environment", "prod").await;
    browser.fill("#path", "/orders/v1/refunds").await;
    browser.click("#service").await;
    let conflict = browser.wait_for_text("#path-messages", "team-a").await;
    assert!(conflict.contains("falls under"), "{conflict}");
    let link = browser
        .wait_for("#path-messages a")
        .await
        .attr("href")
        .await
        .expect("reads href");
    assert_eq!(link.as_deref(), Some(format!("/requests/{id}").as_str()));

    // Alice finds every step of her request through the audit page, then its route's history.
    browser.sign_in_as(&app.address, "alice", "/audit").await;
    browser.wait_for("#audit-filters").await;
    browser.fill("#audit-path", "/orders/v1").await;
    browser.fill("#audit-environment", "prod").await;
    browser.click("#audit-search").await;
    let events = browser
        .wait_for_text("#audit-events", "Pull request opened")
        .await;
    for step in [
        "Submitted",
        "Approved",
        "Delivery started",
        "Pull request opened",
    ] {
        assert!(events.contains(step), "{step} is missing:\n{events}");
    }
    assert!(
        events.contains("Carol Approver") && events.contains("Dave Admin"),
        "{events}"
    );
    assert!(
        browser
            .client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("path=%2Forders%2Fv1"),
        "the filters are in the URL, to share"
    );
    browser
        .click("#audit-events a[title='Its whole history']")
        .await;
    let lineage = browser
        .wait_for_text("#lineage", "Pull request opened")
        .await;
    assert!(lineage.contains("Alice Requester"), "{lineage}");
    assert!(
        browser
            .wait_for_text("#lineage-heading", "orders")
            .await
            .contains("api.prod.example.com/orders/v1"),
    );

    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn without_javascript_a_refused_form_keeps_every_value_and_names_the_field() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Disabled).await;
    browser
        .sign_in_as(&app.address, "alice", "/requests/new/api")
        .await;

    browser.fill("#path", "/orders/../admin").await;
    browser.fill("#service", "orders").await;
    browser.fill("#port", "8080").await;
    browser.fill("#timeout", "5s").await;
    browser.fill("#justification", "launch").await;
    browser.click("#ask-for-review").await;

    let message = browser.wait_for_text("#path-messages", "..").await;
    assert!(
        message.contains("climbs") || message.contains(".."),
        "{message}"
    );
    assert!(
        browser
            .client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("draft="),
        "the form came back from the server"
    );
    assert_eq!(field_value(&browser, "#path").await, "/orders/../admin");
    assert_eq!(field_value(&browser, "#service").await, "orders");
    assert_eq!(field_value(&browser, "#port").await, "8080");
    assert_eq!(field_value(&browser, "#timeout").await, "5s");
    assert_eq!(field_value(&browser, "#justification").await, "launch");
    let described = browser
        .wait_for("#path")
        .await
        .attr("aria-describedby")
        .await
        .expect("reads")
        .unwrap_or_default();
    assert!(described.contains("path-messages"), "{described}");

    // Fixed, the same form submits without JavaScript and lands on the request.
    browser.fill("#path", "/orders/v1").await;
    browser.click("#ask-for-review").await;
    browser.wait_for("#request-summary").await;
    assert!(browser.path().await.starts_with("/requests/"));
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn every_page_passes_axe_core() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Enabled).await;
    let mut found = Vec::new();

    browser
        .client
        .goto(&format!("{}/sign-in", app.address))
        .await
        .expect("opens");
    browser.wait_for("#persona-alice").await;
    found.extend(tag("/sign-in", browser.accessibility_violations().await));

    sign_in(&browser, &app, "alice", "/requests/new/api").await;
    browser.fill("#path", "/orders/v1").await;
    browser.fill("#service", "orders").await;
    browser.fill("#port", "8080").await;
    browser.fill("#justification", "launch").await;
    browser.click("#ask-for-review").await;
    browser.wait_for("#request-summary").await;
    let request = browser.path().await;

    for path in [
        "/",
        "/requests",
        "/requests/new/api",
        "/requests/new/egress",
        "/preview",
        request.as_str(),
        "/audit",
        "/audit?from=not-a-day",
        "/audit/lineage?environment=dev&host=api.dev.example.com&path=%2Forders%2Fv1",
        "/account",
        "/no/such/page",
    ] {
        browser
            .client
            .goto(&format!("{}{path}", app.address))
            .await
            .expect("opens");
        browser.wait_for("main.page h1").await;
        found.extend(tag(path, browser.accessibility_violations().await));
    }
    browser
        .sign_in_as(&app.address, "dave", "/audit/chain")
        .await;
    browser.wait_for("#chain-result").await;
    found.extend(tag(
        "/audit/chain",
        browser.accessibility_violations().await,
    ));
    browser.sign_in_as(&app.address, "carol", "/queue").await;
    browser.wait_for("main.page h1").await;
    found.extend(tag("/queue", browser.accessibility_violations().await));
    browser
        .client
        .goto(&format!("{}{request}", app.address))
        .await
        .expect("opens");
    browser.wait_for("#decision-form").await;
    found.extend(tag(
        "request page as approver",
        browser.accessibility_violations().await,
    ));

    assert!(
        found.is_empty(),
        "axe-core violations:\n{}",
        found.join("\n")
    );
    browser.close().await;
    app.stop().await;
}

fn tag(page: &str, violations: Vec<String>) -> Vec<String> {
    violations
        .into_iter()
        .map(|v| format!("{page}: {v}"))
        .collect()
}

#[tokio::test]
async fn the_egress_form_adds_and_removes_host_rows() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Enabled).await;
    sign_in(&browser, &app, "alice", "/requests/new/egress").await;

    browser.fill("#hosts-0-", "api.stripe.com").await;
    browser.click("#add-host").await;
    browser.fill("#hosts-1-", "hooks.stripe.com").await;
    let preview = browser
        .wait_for_text("#preview-output", "hooks.stripe.com")
        .await;
    assert!(preview.contains("ServiceEntry"), "{preview}");
    browser
        .client
        .find(Locator::Css("button[aria-label='Remove external host 2']"))
        .await
        .expect("a remove button per row")
        .click()
        .await
        .expect("removes");
    browser.wait_for("#preview-output").await;
    for _ in 0..50 {
        let text = browser.wait_for_text("#preview-status", "").await;
        let output = browser
            .client
            .find(Locator::Css("#preview-output"))
            .await
            .expect("output")
            .text()
            .await
            .unwrap_or_default();
        if !output.contains("hooks.stripe.com") {
            assert!(text.contains("would change"), "{text}");
            browser.close().await;
            app.stop().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the removed host stayed in the preview");
}

#[tokio::test]
async fn the_yaml_editor_asks_for_review_of_what_it_holds() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Enabled).await;
    sign_in(&browser, &app, "alice", "/preview").await;
    browser
        .fill("#yaml-justification", "the orders API goes live")
        .await;
    browser.click("#submit-yaml").await;
    let result = browser
        .wait_for_text("#yaml-submit-result", "Submitted for review")
        .await;
    assert!(result.contains("request "), "{result}");
    browser.click("#yaml-submit-result a").await;
    let summary = browser
        .wait_for_text("#request-summary", "/orders/v1")
        .await;
    assert!(
        summary.contains("api.dev.example.com/orders/v1"),
        "{summary}"
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_yaml_editor_previews_a_canary_under_argo_rollouts_with_what_to_merge() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Enabled).await;
    sign_in(&browser, &app, "alice", "/preview").await;
    browser
        .fill(
            "#request",
            "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
             path: /orders/v1\ntarget: {namespace: team-a, service: orders, port: 8080}\n\
             ---\nkind: TrafficSplit\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
             path: /orders/v1\nnamespace: team-a\nrollout: orders\n\
             stable: {subset: stable}\ncanary: {subset: canary}\n\
             ---\nkind: CircuitBreaker\nenvironment: dev\nteam: team-a\nnamespace: team-a\n\
             service: orders\noutlierDetection: {consecutive5xxErrors: 5, maxEjectionPercent: 50}\n",
        )
        .await;
    let preview = browser
        .wait_for_text("#preview-output", "destinationrule-orders.yaml")
        .await;
    assert!(preview.contains("subset: canary"), "{preview}");
    assert!(preview.contains("consecutive5xxErrors: 5"), "{preview}");
    let guidance = browser
        .wait_for_text("#preview-guidance", "Argo Rollout orders in team-a")
        .await;
    assert!(guidance.contains("canarySubsetName: canary"), "{guidance}");
    assert!(
        guidance.contains("RespectIgnoreDifferences=true"),
        "{guidance}"
    );
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{violations:?}");

    // A refusal of the new kinds shows in the same place, with its field.
    browser
        .fill(
            "#request",
            "kind: CircuitBreaker\nenvironment: dev\nteam: team-a\nnamespace: team-a\n\
             service: orders\nconnectionPool: {tcp: {maxConnections: 0}}\n",
        )
        .await;
    let status = browser
        .wait_for_text("#preview-status", "cannot be granted")
        .await;
    assert!(status.contains("cannot be granted"), "{status}");
    let problems = browser
        .wait_for_text("main", "connectionPool.tcp.maxConnections")
        .await;
    assert!(problems.contains("Envoy reads 0 as no limit"), "{problems}");
    browser.close().await;
    app.stop().await;
}

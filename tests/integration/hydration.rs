//! Server rendering plus hydration, seen from a real browser.

use fantoccini::Locator;
use signalbox_tests::TestApp;
use signalbox_tests::browser::{Browser, Scripts};

/// Signs in as alice, opens the preview and waits until the wasm bundle has hydrated it.
async fn hydrated_preview(app: &TestApp) -> Browser {
    let browser = Browser::start(Scripts::Enabled).await;
    browser.sign_in_as(&app.address, "alice", "/preview").await;
    browser.wait_for("[data-hydrated=true]").await;
    browser
}

async fn resource_requests(browser: &Browser) -> u64 {
    browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').length;",
            vec![],
        )
        .await
        .expect("script runs")
        .as_u64()
        .expect("a number")
}

#[tokio::test]
async fn the_server_rendered_page_already_holds_the_preview() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Disabled).await;

    browser.sign_in_as(&app.address, "alice", "/preview").await;

    let output = browser
        .wait_for_text("#preview-output", "kind: VirtualService")
        .await;
    assert!(output.contains("/orders/v1"), "{output}");
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn after_hydration_the_preview_follows_typing_without_asking_the_server() {
    let app = TestApp::spawn().await;
    let browser = hydrated_preview(&app).await;
    let requests_before = resource_requests(&browser).await;

    let textarea = browser
        .client
        .find(Locator::Id("request"))
        .await
        .expect("textarea");
    textarea.clear().await.expect("clears");
    textarea
        .send_keys(
            "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
             path: /payments/v2\nmatch: prefix\ntarget: {namespace: team-a, service: payments, port: 9090}\n",
        )
        .await
        .expect("types");

    let output = browser
        .wait_for_text("#preview-output", "/payments/v2")
        .await;
    assert!(
        output.contains("payments.team-a.svc.cluster.local"),
        "{output}"
    );
    assert_eq!(
        resource_requests(&browser).await,
        requests_before,
        "the preview made no request"
    );

    textarea.send_keys("bogus: field\n").await.expect("types");
    let status = browser
        .wait_for_text("#preview-status", "cannot be granted")
        .await;
    assert!(!status.is_empty());
    let problems = browser.wait_for_text(".problems", "bogus").await;
    assert!(
        problems.contains("bogus"),
        "the problem names the field: {problems}"
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_check_form_works_with_javascript_disabled() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(Scripts::Disabled).await;
    browser.sign_in_as(&app.address, "alice", "/preview").await;

    browser
        .client
        .find(Locator::Id("check-request"))
        .await
        .expect("the check button")
        .click()
        .await
        .expect("submits");

    let status = browser.wait_for_text("#server-check", "accepts").await;
    assert!(status.contains("would change"), "{status}");
    let textarea = browser
        .client
        .find(Locator::Id("request"))
        .await
        .expect("textarea");
    let kept = textarea
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(
        kept.contains("/orders/v1"),
        "what the user typed is kept: {kept}"
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_check_form_answers_in_place_once_hydrated() {
    let app = TestApp::spawn().await;
    let browser = hydrated_preview(&app).await;

    browser
        .client
        .find(Locator::Id("check-request"))
        .await
        .expect("button")
        .click()
        .await
        .expect("clicks");

    browser.wait_for_text("#server-check", "accepts").await;
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/preview");
    assert!(url.query().is_none(), "no full page load happened: {url}");
    browser.close().await;
    app.stop().await;
}

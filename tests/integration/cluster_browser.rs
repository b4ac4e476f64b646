//! The demo's cluster fixture in headless Chromium: the API form offers the Services and ports
//! the fixture's namespace runs, and the hand-made route and a missing port show while typing.

use std::time::Duration;

use mesh::config::ClusterConfig;
use signalbox_tests::TestApp;
use signalbox_tests::browser::{Browser, Scripts};

/// The values of a datalist's options, once it has `count` of them.
async fn choices(browser: &Browser, datalist: &str, count: usize) -> Vec<String> {
    let script = format!(
        "return Array.from(document.querySelectorAll('{datalist} option')).map(o => o.value);"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let values: Vec<String> = browser
            .client
            .execute(&script, vec![])
            .await
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        if values.len() == count || tokio::time::Instant::now() > deadline {
            return values;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_api_form_offers_the_services_and_ports_of_the_demo_fixture() {
    let app = TestApp::spawn_with(|settings| {
        settings.environments[0].cluster = Some(ClusterConfig {
            fixture: Some("builtin:demo".to_owned()),
            ..ClusterConfig::default()
        });
    })
    .await;
    let browser = Browser::start(Scripts::Enabled).await;
    browser
        .sign_in_as(&app.address, "alice", "/requests/new/api")
        .await;
    browser.wait_for("[data-hydrated=true]").await;

    // dev, team-a: the fixture's team-a runs orders and payments.
    assert_eq!(
        choices(&browser, "#service-choices", 2).await,
        ["orders", "payments"]
    );
    browser.fill("#service", "orders").await;
    assert_eq!(
        choices(&browser, "#port-choices", 2).await,
        ["8080", "9090"]
    );
    // A port the Service does not expose is named under the port field.
    browser.fill("#path", "/shop").await;
    browser.fill("#port", "8081").await;
    browser.click("#timeout").await;
    let message = browser.wait_for_text("#port-messages", "exposes").await;
    assert!(
        message.contains("8080 (http), 9090 (grpc-admin)"),
        "{message}"
    );
    // A path the hand-made VirtualService serves is a conflict naming it.
    browser.fill("#port", "8080").await;
    browser.fill("#path", "/status/v2").await;
    browser.click("#service").await;
    let message = browser
        .wait_for_text("#path-messages", "legacy/status-page")
        .await;
    assert!(message.contains("did not generate"), "{message}");

    // The overview says where dev's inventory comes from, and shows the egress hole and the
    // hand-made route.
    browser
        .client
        .goto(&format!("{}/", app.address))
        .await
        .expect("opens the overview");
    let source = browser
        .wait_for_text("[data-environment=dev] .cluster-source", "fixture")
        .await;
    assert!(
        source.contains("Demo data, not a live cluster: fixture builtin:demo"),
        "{source}"
    );
    let holes = browser
        .wait_for_text("[data-environment=dev] .egress-holes", "REGISTRY_ONLY")
        .await;
    assert!(holes.contains("team-b"), "{holes}");
    let hand_made = browser
        .wait_for_text(
            "[data-environment=dev] .foreign-routes",
            "legacy/status-page",
        )
        .await;
    assert!(
        hand_made.contains("prefix api.dev.example.com/status"),
        "{hand_made}"
    );
    let prod = browser
        .wait_for_text("[data-environment=prod]", "Not connected")
        .await;
    assert!(
        prod.contains("checks use what Signalbox has stored"),
        "{prod}"
    );
    browser.close().await;
    app.stop().await;
}

//! Signing in and out in a real browser, through a real OpenID provider run locally.

use secrecy::SecretString;
use signalbox_tests::TestApp;
use signalbox_tests::browser::{Browser, Scripts};
use signalbox_tests::oidc_provider::{CLIENT_ID, CLIENT_SECRET, OidcProvider};

#[tokio::test]
async fn signing_in_through_the_identity_provider_and_out_again() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port");
    let app_url = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start(&app_url).await;
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_with(|settings| {
        settings.server.address = format!("127.0.0.1:{port}").parse().expect("address");
        settings.auth.issuer = Some(issuer);
        settings.auth.client_id = Some(CLIENT_ID.to_owned());
        settings.auth.client_secret = Some(SecretString::from(CLIENT_SECRET.to_owned()));
    })
    .await;
    let browser = Browser::start(Scripts::Enabled).await;

    // Not signed in: the portal sends the browser to its sign-in page.
    browser.client.goto(&app.url("/")).await.expect("navigates");
    browser.click("#sign-in-link").await;

    // The provider's own login and consent pages.
    browser
        .wait_for("input[name=login]")
        .await
        .send_keys("alice")
        .await
        .expect("types");
    browser
        .client
        .find(fantoccini::Locator::Css("input[name=password]"))
        .await
        .expect("password")
        .send_keys("any")
        .await
        .expect("types");
    browser
        .click("input[name=prompt][value=login] ~ button[type=submit]")
        .await;
    browser
        .click("input[name=prompt][value=consent] ~ button[type=submit]")
        .await;

    // Back home, as Alice of team-a.
    let greeting = browser.wait_for_text("#greeting", "Alice Example").await;
    assert!(greeting.contains("Alice Example"), "{greeting}");
    assert!(greeting.contains("team-a"), "{greeting}");

    // Sign out here and at the provider.
    browser.click("form[action='/auth/logout'] button").await;
    browser.click("button[value=yes]").await;
    let signed_out = browser.wait_for_text("#signed-out", "signed out").await;
    assert!(signed_out.contains("signed out"), "{signed_out}");

    // And the portal asks to sign in again.
    browser.client.goto(&app.url("/")).await.expect("navigates");
    browser.wait_for("#sign-in-link").await;
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/sign-in");
    browser.close().await;
    app.stop().await;
}

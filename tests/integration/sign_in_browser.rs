//! Signing in and out in a real browser, through a real OpenID provider run locally.

use std::time::Duration;

use fantoccini::Locator;
use secrecy::SecretString;
use signalbox_tests::TestApp;
use signalbox_tests::browser::{Browser, Scripts};
use signalbox_tests::oidc_provider::{CLIENT_ID, CLIENT_SECRET, OidcProvider};

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("{css} never appeared: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("clicking {css}: {error}"));
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("{css} never appeared: {error}"))
        .text()
        .await
        .expect("text")
}

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
    click(&browser, "#sign-in-link").await;

    // The provider's own login and consent pages.
    let login = browser
        .client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("input[name=login]"))
        .await
        .expect("the provider asks for a login");
    login.send_keys("alice").await.expect("types");
    browser
        .client
        .find(Locator::Css("input[name=password]"))
        .await
        .expect("password")
        .send_keys("any")
        .await
        .expect("types");
    click(&browser, "button[type=submit]").await;
    click(&browser, "button[type=submit]").await;

    // Back home, as Alice of team-a.
    let greeting = text_of(&browser, "#greeting").await;
    assert!(greeting.contains("Alice Example"), "{greeting}");
    assert!(greeting.contains("team-a"), "{greeting}");

    // Sign out here and at the provider.
    click(&browser, "form[action='/auth/logout'] button").await;
    click(&browser, "button[value=yes]").await;
    let signed_out = text_of(&browser, "#signed-out").await;
    assert!(signed_out.contains("signed out"), "{signed_out}");

    // And the portal asks to sign in again.
    browser.client.goto(&app.url("/")).await.expect("navigates");
    browser
        .client
        .wait()
        .for_element(Locator::Css("#sign-in-link"))
        .await
        .expect("asked to sign in again");
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/sign-in");
    browser.close().await;
    app.stop().await;
}

//! Sign-in through OpenID Connect against a fake provider, sessions, the public list and CSRF.

use secrecy::SecretString;
use signalbox_tests::TestApp;
use signalbox_tests::fake_oidc::{CLIENT_ID, CLIENT_SECRET, FakeProvider, TokenSpec};

pub(crate) async fn app_with_provider() -> (TestApp, FakeProvider) {
    let provider = FakeProvider::start().await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with(|settings| {
        settings.auth.issuer = Some(issuer);
        settings.auth.client_id = Some(CLIENT_ID.to_owned());
        settings.auth.client_secret = Some(SecretString::from(CLIENT_SECRET.to_owned()));
    })
    .await;
    (app, provider)
}

/// Starts a sign-in and returns the `state` and `nonce` Signalbox sent to the provider.
async fn start_sign_in(app: &TestApp, return_to: &str) -> (String, String) {
    let response = app
        .get(&format!(
            "/auth/login?return_to={}",
            app::url::encode_component(return_to)
        ))
        .await;
    assert_eq!(response.status(), 303);
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("a URL");
    assert!(location.path().ends_with("/authorize"), "{location}");
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    assert_eq!(
        param("code_challenge_method").as_deref(),
        Some("S256"),
        "PKCE is used"
    );
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    (
        param("state").expect("state"),
        param("nonce").expect("nonce"),
    )
}

async fn callback(app: &TestApp, code: &str, state: &str) -> reqwest::Response {
    app.get(&format!("/auth/callback?code={code}&state={state}"))
        .await
}

/// A whole sign-in: starts it, has the provider issue the token `spec` builds from the nonce
/// Signalbox sent, and plays the callback with the state it sent. Returns the callback's answer.
pub(crate) async fn sign_in_with(
    app: &TestApp,
    provider: &FakeProvider,
    return_to: &str,
    spec: impl FnOnce(String) -> TokenSpec,
) -> reqwest::Response {
    let (state, nonce) = start_sign_in(app, return_to).await;
    provider.issue_once(&spec(nonce)).await;
    callback(app, "code", &state).await
}

pub(crate) fn member_of(group: &str) -> impl FnOnce(String) -> TokenSpec {
    let groups = vec![group.to_owned()];
    move |nonce| TokenSpec {
        nonce,
        groups,
        ..TokenSpec::default()
    }
}

async fn refused_with(response: reqwest::Response, needle: &str) {
    assert_eq!(response.status(), 400);
    let body = response.text().await.expect("body");
    assert!(body.contains("Sign-in failed"), "{body}");
    assert!(body.contains(needle), "expected {needle:?} in {body}");
}

async fn is_signed_in(app: &TestApp) -> bool {
    let info: serde_json::Value = app
        .client
        .post(app.url("/api/session"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    !info["viewer"].is_null()
}

#[tokio::test]
async fn a_good_callback_signs_in_and_rotates_the_session_id() {
    let (app, provider) = app_with_provider().await;
    let (state, nonce) = start_sign_in(&app, "/preview").await;
    let before = app
        .session_cookie()
        .expect("the pending sign-in lives in a session");
    provider.issue_once(&member_of("team-a")(nonce)).await;

    let response = callback(&app, "good-code", &state).await;

    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/preview",
        "back to where the user was going"
    );
    let after = app.session_cookie().expect("a session");
    assert_ne!(before, after, "the session id is rotated at sign-in");
    let home = app.get("/").await.text().await.expect("body");
    assert!(home.contains("Alice Example"), "{home}");
    assert!(home.contains("requester for team-a"), "{home}");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_with_the_wrong_state_is_refused() {
    let (app, provider) = app_with_provider().await;
    let (_state, nonce) = start_sign_in(&app, "/").await;
    provider.issue_once(&member_of("team-a")(nonce)).await;

    refused_with(callback(&app, "code", "forged-state").await, "wrong state").await;
    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let (app, provider) = app_with_provider().await;
    let (state, nonce) = start_sign_in(&app, "/").await;
    provider.issue_once(&member_of("team-a")(nonce)).await;
    assert_eq!(callback(&app, "the-code", &state).await.status(), 303);
    app.client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("signs out");

    refused_with(
        callback(&app, "the-code", &state).await,
        "already completed",
    )
    .await;
    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_code_the_provider_already_redeemed_is_refused() {
    let (app, provider) = app_with_provider().await;
    let (state, nonce) = start_sign_in(&app, "/").await;
    provider.issue_once(&member_of("team-a")(nonce)).await;
    // Someone else redeemed the code first (the provider answers invalid_grant from now on).
    let stolen = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer()))
        .form(&[("grant_type", "authorization_code"), ("code", "the-code")])
        .send()
        .await
        .expect("sent");
    assert_eq!(stolen.status(), 200);

    refused_with(
        callback(&app, "the-code", &state).await,
        "may have been used already",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_token_with_the_wrong_nonce_is_refused() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(&app, &provider, "/", |_nonce| TokenSpec {
        nonce: "another-nonce".into(),
        ..TokenSpec::default()
    })
    .await;

    refused_with(response, "wrong nonce").await;
    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        audience: Some("another-app".into()),
        ..TokenSpec::default()
    })
    .await;

    refused_with(response, "wrong audience").await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        expired: true,
        ..TokenSpec::default()
    })
    .await;

    refused_with(response, "has expired").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        unsigned: true,
        ..TokenSpec::default()
    })
    .await;

    refused_with(response, "not signed with an allowed algorithm").await;
    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_token_signed_with_an_unknown_key_is_refused() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        unknown_key: true,
        ..TokenSpec::default()
    })
    .await;

    refused_with(response, "key the identity provider does not publish").await;
    app.stop().await;
}

#[tokio::test]
async fn return_to_after_sign_in_never_leaves_the_site() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(
        &app,
        &provider,
        "https://evil.example/phish",
        member_of("team-a"),
    )
    .await;

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    app.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_and_the_providers_session() {
    let (app, provider) = app_with_provider().await;
    sign_in_with(&app, &provider, "/", member_of("team-a")).await;

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with(&format!("{}/logout?", provider.issuer())),
        "{location}"
    );
    assert!(location.contains("id_token_hint="), "{location}");
    assert!(location.contains("post_logout_redirect_uri="), "{location}");
    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_user_in_no_configured_group_is_asked_to_request_access() {
    let (app, provider) = app_with_provider().await;
    sign_in_with(&app, &provider, "/", member_of("marketing")).await;

    let response = app.get("/").await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("Ask your platform team for access"), "{html}");
    assert!(
        !html.contains("api.prod.example.com"),
        "no portal content without a role"
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_server_restart() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    assert!(is_signed_in(&app).await);

    let app = app.restart().await;

    assert!(
        is_signed_in(&app).await,
        "the session lives in Postgres, not in the process"
    );
    let home = app.get("/").await.text().await.expect("body");
    assert!(home.contains("Alice Requester"), "{home}");
    app.stop().await;
}

#[tokio::test]
async fn every_route_but_the_public_list_refuses_a_request_without_a_session() {
    let app = TestApp::spawn().await;
    let routes = server::http::route_inventory();
    assert!(
        routes.len() >= 10,
        "the inventory lists pages, server functions and handlers: {routes:?}"
    );

    for (method, path) in routes {
        if server::http::auth::is_public(&path) {
            continue;
        }
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let refused = status == 401 || (status == 303 && location.starts_with("/sign-in"));
        assert!(
            refused,
            "{method} {path} answered {status} {location} without a session"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_cross_site_post_is_refused_and_a_same_site_one_accepted() {
    let app = TestApp::spawn().await;
    let form = [("persona", "alice"), ("return_to", "/")];

    let forged = app
        .client
        .post(app.url("/auth/demo"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .expect("sent");
    let forged_origin = app
        .client
        .post(app.url("/auth/demo"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .expect("sent");

    assert_eq!(forged.status(), 403);
    assert_eq!(forged_origin.status(), 403);
    assert!(!is_signed_in(&app).await);

    let same_site = app
        .client
        .post(app.url("/auth/demo"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", app.address.clone())
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(same_site.status(), 303);
    assert!(is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn the_demo_sign_in_is_refused_off_loopback() {
    let database = signalbox_tests::database::TestDatabase::create().await;
    let mut settings = signalbox_tests::test_app::test_settings(&database.url());
    settings.server.address = "0.0.0.0:0".parse().expect("address");

    let built = server::startup::Application::build(&settings, server::startup::Mode::Demo).await;

    let error = built.err().expect("refused").to_string();
    assert!(error.contains("loopback"), "{error}");
}

#[tokio::test]
async fn every_page_says_when_the_demo_sign_in_is_in_use() {
    let app = TestApp::spawn().await;
    app.sign_in_as("carol").await;

    for path in ["/", "/preview", "/sign-in", "/no-such-page"] {
        let html = app.get(path).await.text().await.expect("body");
        assert!(html.contains("Demo sign-in"), "{path} lacks the banner");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_demo_persona_is_refused_naming_the_choices() {
    let app = TestApp::spawn().await;

    let response = app
        .client
        .post(app.url("/auth/demo"))
        .form(&[("persona", "mallory")])
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 422);
    let body = response.text().await.expect("body");
    assert!(body.contains("persona") && body.contains("alice"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::spawn().await;

    let response = app
        .client
        .post(app.url("/auth/demo"))
        .form(&[("persona", "alice")])
        .send()
        .await
        .expect("sent");

    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("signalbox_session="))
        .expect("a session cookie is set")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn a_cookie_without_secure_is_refused_off_loopback() {
    let provider = FakeProvider::start().await;
    let database = signalbox_tests::database::TestDatabase::create().await;
    let mut settings = signalbox_tests::test_app::test_settings(&database.url());
    settings.server.address = "0.0.0.0:0".parse().expect("address");
    settings.auth.issuer = Some(provider.issuer());
    settings.auth.client_id = Some(CLIENT_ID.to_owned());
    settings.auth.secure_cookie = Some(false);

    // (serve off loopback already insists on https addresses; the demo binary with a provider
    // reaches the cookie check.)
    let built = server::startup::Application::build(&settings, server::startup::Mode::Demo).await;

    let error = built.err().expect("refused").to_string();
    assert!(error.contains("secure_cookie"), "{error}");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    // A lifetime of zero hours: every sign-in is already past it on the next request.
    let app = TestApp::spawn_with(|settings| settings.auth.absolute_timeout_hours = 0).await;
    app.sign_in_as("alice").await;

    let response = app
        .client
        .get(app.url("/preview"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 303, "sent to sign in again");
    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn serve_without_an_identity_provider_is_refused() {
    let database = signalbox_tests::database::TestDatabase::create().await;
    let settings = signalbox_tests::test_app::test_settings(&database.url());

    let built =
        server::startup::Application::build(&settings, server::startup::Mode::Production).await;

    let error = built.err().expect("refused").to_string();
    assert!(error.contains("auth.issuer"), "{error}");
}

#[tokio::test]
async fn the_demo_sign_in_is_refused_when_reached_through_a_public_url() {
    let database = signalbox_tests::database::TestDatabase::create().await;
    let mut settings = signalbox_tests::test_app::test_settings(&database.url());
    // Listening on loopback behind a proxy that serves it to everyone.
    settings.server.public_url = Some("https://signalbox.apps.example.com".to_owned());

    let built = server::startup::Application::build(&settings, server::startup::Mode::Demo).await;

    let error = built.err().expect("refused").to_string();
    assert!(error.contains("loopback"), "{error}");
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure_host_only_and_hsts_is_sent() {
    let provider = FakeProvider::start().await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with(|settings| {
        settings.server.public_url = Some("https://signalbox.apps.example.com".to_owned());
        settings.auth.issuer = Some(issuer);
        settings.auth.client_id = Some(CLIENT_ID.to_owned());
    })
    .await;

    let response = app.get("/auth/login").await;

    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .expect("a session cookie for the pending sign-in")
        .to_owned();
    assert!(cookie.starts_with("__Host-signalbox_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    app.stop().await;
}

#[tokio::test]
async fn server_functions_refuse_a_signed_in_user_without_a_role() {
    let (app, provider) = app_with_provider().await;
    sign_in_with(&app, &provider, "/", member_of("marketing")).await;
    assert!(is_signed_in(&app).await);

    for (method, path) in server::http::route_inventory() {
        if !path.starts_with("/api/") || server::http::auth::is_public(&path) {
            continue;
        }
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            // Arguments for every server function, so each gets past decoding to its checks.
            .form(&[
                ("request", "kind: Egress"),
                ("id", "00000000-0000-0000-0000-000000000000"),
                ("key", "00000000-0000-0000-0000-000000000000"),
                ("version", "1"),
                ("decision", "approve"),
                ("reason", "ok"),
                ("body", "hello"),
                ("justification", "why"),
                ("form[environment]", "dev"),
                ("environment", "dev"),
                ("params[0][0]", "q"),
                ("params[0][1]", "orders"),
            ])
            .send()
            .await
            .expect("sent");
        // Anyone signed in may see and end their own sessions, with or without a role.
        let own_sessions =
            path.starts_with("/api/my_sessions") || path.starts_with("/api/end_other_sessions");
        assert_eq!(
            response.status(),
            if own_sessions { 200 } else { 403 },
            "{method} {path} must refuse a user with no role"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_session_unused_past_the_idle_timeout_ends() {
    // The database is aged by hand here, so the session is read on every request.
    let app = TestApp::spawn_with(|settings| settings.auth.session_recheck_seconds = 0).await;
    app.sign_in_as("alice").await;
    assert!(is_signed_in(&app).await);

    sqlx::query("update sessions set expiry_date = now() - interval '1 minute'")
        .execute(&app.pool)
        .await
        .expect("ages the session");

    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_session_ended_through_another_replica_ends_here_within_the_recheck_time() {
    let app = TestApp::spawn_with(|settings| settings.auth.session_recheck_seconds = 1).await;
    app.sign_in_as("alice").await;
    assert!(is_signed_in(&app).await);

    // Another replica signs the session out: its row goes, this server is not told.
    sqlx::query("delete from sessions")
        .execute(&app.pool)
        .await
        .expect("ends the session");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    assert!(!is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_token_signed_with_a_newly_rotated_key_is_accepted() {
    let (app, provider) = app_with_provider().await;
    // The provider rotates after Signalbox fetched its keys at start-up.
    provider.publish_second_key().await;

    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        unknown_key: true,
        groups: vec!["team-a".into()],
        ..TokenSpec::default()
    })
    .await;

    assert_eq!(response.status(), 303, "the keys are fetched again");
    assert!(is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn sign_ins_started_in_two_tabs_do_not_break_each_other() {
    let (app, provider) = app_with_provider().await;
    let (first_state, first_nonce) = start_sign_in(&app, "/preview").await;
    let (_second_state, _second_nonce) = start_sign_in(&app, "/").await;
    provider.issue_once(&member_of("team-a")(first_nonce)).await;

    let response = callback(&app, "code", &first_state).await;

    assert_eq!(
        response.status(),
        303,
        "the first tab's sign-in still completes"
    );
    assert_eq!(response.headers()["location"], "/preview");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_callback_does_not_cancel_the_real_sign_in() {
    let (app, provider) = app_with_provider().await;
    let (state, nonce) = start_sign_in(&app, "/").await;
    refused_with(callback(&app, "code", "forged-state").await, "wrong state").await;
    provider.issue_once(&member_of("team-a")(nonce)).await;

    let response = callback(&app, "code", &state).await;

    assert_eq!(response.status(), 303);
    assert!(is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_token_for_another_authorized_party_or_issued_in_the_future_is_refused() {
    let (app, provider) = app_with_provider().await;
    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        authorized_party: Some("another-client".to_owned()),
        ..TokenSpec::default()
    })
    .await;
    refused_with(response, "wrong authorized party").await;
    assert!(!is_signed_in(&app).await);

    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        issued_in_future: true,
        ..TokenSpec::default()
    })
    .await;
    refused_with(response, "issued in the future").await;
    assert!(!is_signed_in(&app).await);

    // Our own client id as azp is fine.
    let response = sign_in_with(&app, &provider, "/", |nonce| TokenSpec {
        nonce,
        authorized_party: Some(CLIENT_ID.to_owned()),
        groups: vec!["team-a".to_owned()],
        ..TokenSpec::default()
    })
    .await;
    assert_eq!(response.status(), 303);
    assert!(is_signed_in(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_provider_error_is_told_in_our_words_and_only_for_a_sign_in_this_browser_started() {
    let (app, _provider) = app_with_provider().await;
    // No sign-in started: the error and its description are not read at all.
    let forged = app
        .get("/auth/callback?error=access_denied&error_description=Call%20evil.example%20now")
        .await;
    assert_eq!(forged.status(), 400);
    let body = forged.text().await.expect("body");
    assert!(body.contains("not started in this browser"), "{body}");
    assert!(!body.contains("evil.example"), "{body}");

    let (state, _nonce) = start_sign_in(&app, "/").await;
    let refused = app
        .get(&format!(
            "/auth/callback?state={state}&error=access_denied&error_description=Call%20evil.example%20now"
        ))
        .await;
    assert_eq!(refused.status(), 400);
    let body = refused.text().await.expect("body");
    assert!(
        body.contains("declined the sign-in (code access_denied)"),
        "{body}"
    );
    assert!(
        !body.contains("evil.example"),
        "the description is never shown: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_session_ended_elsewhere_is_never_written_back() {
    use backend::auth::sessions::HashedPostgresStore;
    use tower_sessions::SessionStore as _;
    use tower_sessions::session::{Id, Record};

    let app = TestApp::spawn().await;
    let store = HashedPostgresStore::new(app.pool.clone());
    let mut record = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(30),
    };
    store.create(&mut record).await.expect("created");
    assert!(store.load(&record.id).await.expect("read").is_some());

    // Another replica signs it out; this one, still holding it, then saves a change to it.
    sqlx::query("delete from sessions")
        .execute(&app.pool)
        .await
        .expect("ended elsewhere");
    store.save(&record).await.expect("saved");

    let rows: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&app.pool)
        .await
        .expect("counted");
    assert_eq!(rows, 0, "the ended session stays ended");
    assert!(store.load(&record.id).await.expect("read").is_none());
    app.stop().await;
}

//! Hardening of the HTTP surface: caching of what a signed-in user sees, the Permissions-Policy,
//! and paths with dot segments refused before routing.

use signalbox_tests::TestApp;
use signalbox_tests::portal::server_fn_path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `GET <raw path>` exactly as written (an HTTP client would normalise the dots away) and
/// returns the status code and the body.
async fn raw_get(app: &TestApp, raw_path: &str) -> (u16, String) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let request =
        format!("GET {raw_path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn pages_and_server_functions_are_never_cached_and_powerful_features_are_off() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    let page = app
        .client
        .get(app.url("/requests"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let policy = page.headers()["permissions-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        policy.contains("camera=()") && policy.contains("geolocation=()"),
        "{policy}"
    );

    let answer = app
        .client
        .post(app.url(&server_fn_path("waiting_count")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        answer.headers()["cache-control"],
        "no-store",
        "{:?}",
        answer.status()
    );

    // The bundle and stylesheet may be cached.
    let css = app
        .client
        .get(app.url("/pkg/signalbox.css"))
        .send()
        .await
        .expect("sent");
    assert_ne!(
        css.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap_or("")),
        Some("no-store")
    );
    app.stop().await;
}

#[tokio::test]
async fn paths_with_dot_segments_are_refused_before_routing() {
    let app = TestApp::spawn().await;
    for path in [
        "/pkg/../healthz",
        "/requests/./new/api",
        "/pkg/%2e%2e/readyz",
        "/pkg/%2E./healthz",
        "/auth/.%2e/healthz",
    ] {
        let (status, answer) = raw_get(&app, path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("segment"), "{path}: {answer}");
    }
    let (status, _) = raw_get(&app, "/healthz").await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_demo_sign_in_refuses_foreign_hosts_and_proxies() {
    let app = TestApp::spawn().await;
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    let attempt = |extra: Vec<(&'static str, String)>| {
        let mut request = app
            .client
            .post(app.url("/auth/demo"))
            .form(&[("persona", "dave"), ("return_to", "/")]);
        for (name, value) in extra {
            request = request.header(name, value);
        }
        request.send()
    };
    // DNS rebinding: a foreign name that resolves to this machine.
    let rebound = format!("rebind.evil.example:{port}");
    let refused = attempt(vec![
        ("host", rebound.clone()),
        ("origin", format!("http://{rebound}")),
    ])
    .await
    .expect("sent");
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.expect("body").contains("loopback"));
    // Through a proxy.
    for header in ["x-forwarded-for", "forwarded", "x-forwarded-host"] {
        let refused = attempt(vec![(header, "203.0.113.7".to_owned())])
            .await
            .expect("sent");
        assert_eq!(refused.status(), 403, "{header}");
        assert!(refused.text().await.expect("body").contains("proxy"));
    }
    // Nobody got a session.
    let home = app
        .client
        .get(app.url("/requests"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("sent");
    assert_eq!(home.status(), 303, "still signed out");
    // Directly on this machine it works.
    let accepted = attempt(Vec::new()).await.expect("sent");
    assert_eq!(accepted.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn a_state_change_must_come_from_the_sites_own_scheme_host_and_port() {
    // The demo: any loopback name it is reached at, but with its own scheme.
    let app = TestApp::spawn().await;
    let own = app.address.clone();
    let port = own.rsplit(':').next().expect("a port").to_owned();
    let post = |app: &TestApp, path: &str, origin: String| {
        app.client
            .post(app.url(path))
            .header("origin", origin)
            .form(&[("persona", "alice"), ("return_to", "/")])
            .send()
    };
    let https = post(&app, "/auth/demo", format!("https://127.0.0.1:{port}"))
        .await
        .expect("sent");
    assert_eq!(https.status(), 403, "an https origin on an http site");
    assert!(https.text().await.expect("body").contains("another site"));
    let other_port = post(&app, "/auth/demo", "http://127.0.0.1:1".to_owned())
        .await
        .expect("sent");
    assert_eq!(other_port.status(), 403);
    assert_eq!(
        post(&app, "/auth/demo", own.clone())
            .await
            .expect("sent")
            .status(),
        303
    );
    app.stop().await;

    // With a provider (serve): exactly the public URL's origin.
    let provider = signalbox_tests::fake_oidc::FakeProvider::start().await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with(|settings| {
        settings.auth.issuer = Some(issuer);
        settings.auth.client_id = Some(signalbox_tests::fake_oidc::CLIENT_ID.to_owned());
        settings.auth.client_secret = Some(secrecy::SecretString::from(
            signalbox_tests::fake_oidc::CLIENT_SECRET.to_owned(),
        ));
    })
    .await;
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    for origin in [
        format!("http://localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
    ] {
        let refused = post(&app, "/auth/logout", origin.clone())
            .await
            .expect("sent");
        assert_eq!(refused.status(), 403, "{origin}");
    }
    let own = app.address.clone();
    assert_eq!(
        post(&app, "/auth/logout", own)
            .await
            .expect("sent")
            .status(),
        303
    );
    app.stop().await;
}

/// Seconds until the newest session row expires.
async fn newest_session_lifetime(app: &TestApp) -> f64 {
    sqlx::query_scalar::<_, f64>(
        "select extract(epoch from max(expiry_date) - now())::float8 from sessions",
    )
    .fetch_one(&app.pool)
    .await
    .expect("a session row")
}

#[tokio::test]
async fn a_pending_sign_in_lives_minutes_and_a_signed_in_session_the_idle_timeout() {
    let provider = signalbox_tests::fake_oidc::FakeProvider::start().await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with(|settings| {
        settings.auth.issuer = Some(issuer);
        settings.auth.client_id = Some(signalbox_tests::fake_oidc::CLIENT_ID.to_owned());
        settings.auth.client_secret = Some(secrecy::SecretString::from(
            signalbox_tests::fake_oidc::CLIENT_SECRET.to_owned(),
        ));
    })
    .await;
    let started = app
        .client
        .get(app.url("/auth/login"))
        .send()
        .await
        .expect("sent");
    assert_eq!(started.status(), 303);
    let pending = newest_session_lifetime(&app).await;
    assert!(
        pending > 0.0 && pending <= 600.0 + 5.0,
        "a pending sign-in lives {pending} s"
    );
    app.stop().await;

    // The demo signs in at once: its session lives for the idle timeout, 30 minutes by default.
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    let signed_in = newest_session_lifetime(&app).await;
    assert!(
        (25.0 * 60.0..=30.0 * 60.0 + 5.0).contains(&signed_in),
        "a signed-in session lives {signed_in} s"
    );
    app.stop().await;
}

#[test]
fn session_timeouts_outside_the_accepted_range_stop_the_start() {
    let bin = std::env::var("SIGNALBOX_BIN").unwrap_or_else(|_| {
        signalbox_tests::test_app::workspace_root()
            .join("target/debug/signalbox")
            .display()
            .to_string()
    });
    for (idle, absolute, expected) in [
        (
            "0",
            "12",
            "auth.idle_timeout_minutes is 0; accepted: 1 to 480",
        ),
        (
            "10000",
            "12",
            "auth.idle_timeout_minutes is 10000; accepted: 1 to 480",
        ),
        (
            "30",
            "0",
            "auth.absolute_timeout_hours is 0; accepted: 1 to 24",
        ),
        (
            "30",
            "720",
            "auth.absolute_timeout_hours is 720; accepted: 1 to 24",
        ),
    ] {
        let output = std::process::Command::new(&bin)
            .arg("demo")
            .env("SIGNALBOX_AUTH__IDLE_TIMEOUT_MINUTES", idle)
            .env("SIGNALBOX_AUTH__ABSOLUTE_TIMEOUT_HOURS", absolute)
            .env("SIGNALBOX_SERVER__ADDRESS", "127.0.0.1:0")
            .env(
                "SIGNALBOX_DATABASE__URL",
                "postgres://nobody@127.0.0.1:1/none",
            )
            .output()
            .expect("the signalbox binary runs (scripts/build.sh builds it)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test]
async fn serving_beyond_loopback_needs_https_for_the_public_url_and_the_provider() {
    let database = signalbox_tests::database::TestDatabase::create().await;
    let build = |public_url: &str, issuer: &str| {
        let mut settings = signalbox_tests::test_app::test_settings(&database.url());
        settings.server.address = "0.0.0.0:0".parse().expect("address");
        settings.server.public_url = Some(public_url.to_owned());
        settings.auth.issuer = Some(issuer.to_owned());
        settings.auth.client_id = Some("signalbox".to_owned());
        settings.auth.client_secret = Some(secrecy::SecretString::from("s".to_owned()));
        async move {
            server::startup::Application::build(&settings, server::startup::Mode::Production)
                .await
                .err()
                .map(|error| format!("{error:#}"))
                .unwrap_or_default()
        }
    };
    let refused = build(
        "http://signalbox.example.com",
        "https://sso.example.com/realms/x",
    )
    .await;
    assert!(
        refused.contains("server.public_url is http://signalbox.example.com"),
        "{refused}"
    );
    assert!(refused.contains("https://"), "{refused}");
    let refused = build(
        "https://signalbox.example.com",
        "http://sso.example.com/realms/x",
    )
    .await;
    assert!(
        refused.contains("auth.issuer is http://sso.example.com/realms/x"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_demo_session_is_refused_by_a_server_that_signs_in_through_its_provider() {
    // The demo and serve share one database; a session minted by the demo (Dave, platform
    // admin) must not open serve.
    let demo = TestApp::spawn().await;
    demo.sign_in_as("dave").await;
    let page = demo
        .client
        .get(demo.url("/queue"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200, "the demo accepts its own session");
    let cookie = demo.session_cookie().expect("a session cookie");

    let provider = signalbox_tests::fake_oidc::FakeProvider::start().await;
    let issuer = provider.issuer();
    let database_url = demo.database.url();
    let mut settings = signalbox_tests::test_app::test_settings(&database_url);
    settings.auth.issuer = Some(issuer);
    settings.auth.client_id = Some(signalbox_tests::fake_oidc::CLIENT_ID.to_owned());
    settings.auth.client_secret = Some(secrecy::SecretString::from(
        signalbox_tests::fake_oidc::CLIENT_SECRET.to_owned(),
    ));
    let serve = server::startup::Application::build(&settings, server::startup::Mode::Production)
        .await
        .expect("serve builds");
    let address = format!("http://{}", serve.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(serve.run_until(async move {
        stopped.await.ok();
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut refused = None;
    for _ in 0..100 {
        if let Ok(response) = client
            .get(format!("{address}/queue"))
            .header("accept", "text/html")
            .header("cookie", format!("signalbox_session={cookie}"))
            .send()
            .await
        {
            refused = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused = refused.expect("serve answers");
    assert_eq!(
        refused.status(),
        303,
        "serve sends the demo session to sign in"
    );
    assert!(
        refused.headers()["location"]
            .to_str()
            .unwrap_or("")
            .starts_with("/sign-in"),
        "{:?}",
        refused.headers()
    );
    stop.send(()).ok();
    running.await.expect("joins").expect("stops");
    demo.stop().await;
}

#[tokio::test]
async fn the_demo_refuses_a_database_on_another_machine_unless_told() {
    let mut settings = signalbox_tests::test_app::test_settings(
        "postgres://signalbox@db.example.com:5432/signalbox",
    );
    let refused = server::startup::Application::build(&settings, server::startup::Mode::Demo)
        .await
        .err()
        .map(|error| format!("{error:#}"))
        .unwrap_or_default();
    assert!(
        refused.contains("refuses a database that is not on this machine (db.example.com)"),
        "{refused}"
    );
    assert!(
        refused.contains("database.allow_demo_on_remote"),
        "{refused}"
    );
    settings.database.allow_demo_on_remote = true;
    let built = server::startup::Application::build(&settings, server::startup::Mode::Demo).await;
    assert!(
        built.is_ok(),
        "told explicitly, the demo starts (its pool connects lazily)"
    );
}

/// Posts `size` bytes with `Transfer-Encoding: chunked` (no declared length), as the app's client,
/// and returns the status of the answer; the server may answer before reading everything.
async fn chunked_post(app: &TestApp, path: &str, size: usize) -> u16 {
    let address = app.address.trim_start_matches("http://");
    let cookie = format!(
        "signalbox_session={}",
        app.session_cookie().expect("signed in")
    );
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        let frame = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if stream.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The text of a response, and its status.
async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn server_functions_answer_bad_input_as_bad_input() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let comment = format!("{}{}", app.address, server_fn_path("comment_on_request"));
    let form = |body: Vec<u8>| {
        alice
            .client
            .post(&comment)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };

    // 10 MB, declared up front.
    let mut huge = b"id=00000000-0000-0000-0000-000000000000&body=".to_vec();
    huge.resize(10 * 1024 * 1024, b'a');
    let (status, text) = answer(form(huge.clone()).send().await.expect("sent")).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("larger than the 1024 KiB"), "{text}");

    // The same, streamed in chunks without a length.
    app.sign_in_as("alice").await;
    let path = server_fn_path("comment_on_request");
    assert_eq!(chunked_post(&app, &path, 10 * 1024 * 1024).await, 413);

    // A field missing: named, without the deserializer's text.
    let (status, text) = answer(form(b"id=x".to_vec()).send().await.expect("sent")).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(text, "Args|The request is missing the field `body`.");

    // Not UTF-8, raw or percent-encoded.
    for body in [&b"id=x&body=\xff\xfe"[..], &b"id=x&body=%FF%FE"[..]] {
        let (status, text) = answer(form(body.to_vec()).send().await.expect("sent")).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("not valid UTF-8"), "{text}");
    }

    // A browser without JavaScript gets a page saying the same, not a redirect carrying it.
    let (status, text) = answer(
        form(b"id=x".to_vec())
            .header("accept", "text/html")
            .header("referer", format!("{}/requests", app.address))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        text.contains("id=\"request-error\">The request is missing the field `body`.</p>"),
        "{text}"
    );

    // Well-formed input still works.
    let (status, text) = answer(
        form(b"id=00000000-0000-0000-0000-000000000000&body=hello".to_vec())
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_plain_form_is_sent_back_only_to_a_page_of_this_site() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let comment = format!("{}{}", app.address, server_fn_path("comment_on_request"));
    let post = |referer: String| {
        alice
            .client
            .post(&comment)
            .header("accept", "text/html")
            .header("referer", referer)
            .form(&[("id", "not-a-request"), ("body", "hello")])
            .send()
    };
    let foreign = post("https://evil.example/x".to_owned())
        .await
        .expect("sent");
    assert_eq!(foreign.status(), 302);
    let location = foreign.headers()["location"].to_str().expect("ascii");
    assert!(
        location.starts_with(&format!("{}/", app.address)),
        "sent to {location}"
    );
    assert!(!location.contains("evil.example"), "{location}");

    let own = post(format!("{}/requests?state=submitted", app.address))
        .await
        .expect("sent");
    assert_eq!(own.status(), 302);
    let location = own.headers()["location"].to_str().expect("ascii");
    assert!(
        location.starts_with(&format!("{}/requests?state=submitted", app.address)),
        "sent to {location}"
    );
    app.stop().await;
}

#[tokio::test]
async fn session_ids_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    app.sign_in_as("alice").await;
    let cookie = app.session_cookie().expect("a session cookie");
    let rows: Vec<(Vec<u8>, String)> =
        sqlx::query_as("select id_hash, data::text from sessions where subject is not null")
            .fetch_all(&app.pool)
            .await
            .expect("sessions");
    assert_eq!(rows.len(), 1);
    let (hash, data) = &rows[0];
    use sha2::Digest as _;
    assert_eq!(
        hash.as_slice(),
        sha2::Sha256::digest(cookie.as_bytes()).as_slice()
    );
    assert!(!data.contains(&cookie), "the data holds the id");
    // Nothing in the table holds the cookie's value.
    let plain: i64 = sqlx::query_scalar(
        "select count(*) from sessions where position($1 in data::text) > 0 \
         or id_hash = convert_to($1, 'UTF8')",
    )
    .bind(&cookie)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(plain, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_user_ends_their_other_sessions_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    let laptop = app.visitor("alice").await;
    let phone = app.visitor("alice").await;
    let bob = app.visitor("bob").await;

    let (status, page) = laptop.page("/account").await;
    assert_eq!(status, 200);
    assert_eq!(
        page.matches("<tr").count(),
        1 + 2,
        "a header and two sessions: {page}"
    );
    assert!(page.contains("This browser"), "{page}");

    let ended: u64 = laptop.call("end_other_sessions", &[]).await;
    assert_eq!(ended, 1);
    assert_eq!(laptop.page("/account").await.0, 200);
    let (status, page) = phone.page("/account").await;
    assert_eq!(status, 401, "the phone's session ended: {page}");
    let refused = phone.post("waiting_count", &[]).await;
    assert_eq!(refused.status(), 401);
    // Another user's session is untouched.
    assert_eq!(bob.page("/requests").await.0, 200);
    app.stop().await;
}

//! The demo path: with no database configured and nothing listening where it points, the demo
//! starts a throwaway PostgreSQL cluster, becomes ready on it, and stops it on SIGTERM.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn signalbox_bin() -> String {
    std::env::var("SIGNALBOX_BIN").unwrap_or_else(|_| {
        signalbox_tests::test_app::workspace_root()
            .join("target/debug/signalbox")
            .display()
            .to_string()
    })
}

#[tokio::test]
async fn demo_starts_a_throwaway_postgres_and_stops_it_on_sigterm() {
    let db_port = free_port();
    let http_port = free_port();
    let data = tempfile::tempdir().expect("temp dir");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", db_port)).is_err(),
        "nothing may listen on the chosen database port"
    );
    let mut demo = Command::new(signalbox_bin())
        .arg("demo")
        .env(
            "SIGNALBOX_SERVER__ADDRESS",
            format!("127.0.0.1:{http_port}"),
        )
        .env("SIGNALBOX_DATABASE__EMBEDDED__PORT", db_port.to_string())
        .env("SIGNALBOX_DATABASE__EMBEDDED__DATA_DIR", data.path())
        .env("SIGNALBOX_DELIVERY__BASE_DIR", data.path())
        .env_remove("SIGNALBOX_DATABASE__URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the signalbox binary starts (scripts/build.sh builds it)");

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut ready = false;
    while Instant::now() < deadline {
        let readyz = client
            .get(format!("http://127.0.0.1:{http_port}/readyz"))
            .send()
            .await;
        if readyz.is_ok_and(|response| response.status() == 200) {
            ready = true;
            break;
        }
        if let Ok(Some(status)) = demo.try_wait() {
            panic!("the demo exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "/readyz did not turn ready on the throwaway cluster");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", db_port)).is_ok(),
        "the throwaway cluster listens on the chosen port"
    );

    let terminated = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let status = demo.wait().expect("the demo exits");

    assert!(
        status.success(),
        "the demo exits cleanly on SIGTERM, got {status}"
    );
    assert!(
        !data.path().join("pgdata/postmaster.pid").exists(),
        "the throwaway cluster is stopped"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", db_port)).is_err());
}

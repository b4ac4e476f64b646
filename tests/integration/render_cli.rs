//! `signalbox render` from the outside: exit codes, output format, error lines.

use std::path::Path;
use std::process::{Command, Output};

use signalbox_tests::test_app::workspace_root;

fn signalbox(args: &[&str]) -> Output {
    let bin = std::env::var("SIGNALBOX_BIN").unwrap_or_else(|_| {
        workspace_root()
            .join("target/debug/signalbox")
            .display()
            .to_string()
    });
    Command::new(bin)
        .args(args)
        .output()
        .expect("the signalbox binary runs (scripts/build.sh builds it)")
}

fn config() -> String {
    workspace_root()
        .join("config/signalbox.toml")
        .display()
        .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path.display().to_string()
}

const ROUTE: &str = "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
path: /orders/v1\nmatch: prefix\ntarget: {namespace: team-a, service: orders, port: 8080}\n";

#[test]
fn render_prints_every_file_of_the_pull_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write(dir.path(), "route.yaml", ROUTE);

    let output = signalbox(&["render", "--config", &config(), &request]);

    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(stdout.contains("# file: prod/team-a/"), "{stdout}");
    assert!(
        stdout.contains("apiVersion: networking.istio.io/v1beta1"),
        "prod runs OSSM 2.6: {stdout}"
    );
    assert!(stdout.contains("kustomization.yaml"), "{stdout}");
}

#[test]
fn render_writes_files_under_out_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write(dir.path(), "route.yaml", ROUTE);
    let out = dir.path().join("repo");

    let output = signalbox(&[
        "render",
        "--config",
        &config(),
        "--out",
        &out.display().to_string(),
        &request,
    ]);

    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("prod/team-a").is_dir());
    // The layout delivery commits: the environment's folder builds with kustomize.
    let root = std::fs::read_to_string(out.join("prod/kustomization.yaml")).expect("written");
    for folder in ["istio-ingress", "team-a", "team-b"] {
        assert!(root.contains(&format!("- {folder}\n")), "{root}");
    }
    if let Ok(built) = Command::new("kubectl")
        .args(["kustomize", "prod"])
        .current_dir(&out)
        .output()
    {
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let objects = String::from_utf8_lossy(&built.stdout);
        assert!(objects.contains("kind: VirtualService"), "{objects}");
        assert!(objects.contains("kind: Sidecar"), "{objects}");
    }
    // A second run regenerates the folder: nothing stale stays.
    std::fs::write(out.join("prod/team-a/stale.yaml"), "kind: Stale\n").expect("written");
    let again = signalbox(&[
        "render",
        "--config",
        &config(),
        "--out",
        &out.display().to_string(),
        &request,
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert!(!out.join("prod/team-a/stale.yaml").exists());
}

#[test]
fn render_refuses_a_conflict_with_a_granted_request_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let granted = write(
        dir.path(),
        "granted.yaml",
        &ROUTE
            .replace("team: team-a", "team: team-b")
            .replace("namespace: team-a", "namespace: team-b"),
    );
    let request = write(dir.path(), "new.yaml", ROUTE);

    let output = signalbox(&[
        "render",
        "--config",
        &config(),
        "--granted",
        &granted,
        &request,
    ]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    let line = stderr.lines().next().expect("one line per problem");
    assert!(line.contains("new.yaml"), "{stderr}");
    assert!(line.contains("path"), "{stderr}");
}

#[test]
fn render_refuses_unknown_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write(dir.path(), "bad.yaml", &format!("{ROUTE}colour: blue\n"));

    let output = signalbox(&["render", "--config", &config(), &request]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("colour"),
        "{stderr}"
    );
}

#[test]
fn render_without_request_files_is_a_usage_error() {
    let output = signalbox(&["render", "--config", &config()]);

    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn render_with_an_unreadable_file_is_a_usage_error() {
    let output = signalbox(&["render", "--config", &config(), "/nonexistent/request.yaml"]);

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/request.yaml"));
}

#[test]
fn render_refuses_one_host_defined_two_ways_through_the_gateway_with_the_analyzer_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let egress = |team: &str, protocol: &str| {
        format!(
            "kind: Egress\nenvironment: prod\nteam: {team}\nnamespace: {team}\nhosts: [api.partner.com]\n\
             ports: [{{number: 443, protocol: {protocol}}}]\nviaEgressGateway: true\n"
        )
    };
    let granted = write(dir.path(), "granted.yaml", &egress("team-a", "TLS"));
    let request = write(dir.path(), "new.yaml", &egress("team-b", "HTTPS"));

    let output = signalbox(&[
        "render",
        "--config",
        &config(),
        "--granted",
        &granted,
        &request,
    ]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(
        stderr.contains("IST0177 ConflictingServiceEntryProtocol: api.partner.com port 443 is TLS in namespace team-a and HTTPS in namespace team-b"),
        "{stderr}"
    );
}

#[test]
fn render_onboards_a_namespace_and_routes_to_it_in_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write(
        dir.path(),
        "batch.yaml",
        "kind: Onboarding\nenvironment: prod\nteam: team-a\nnamespace: team-a-batch\n---\n\
         kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
         path: /batch\ntarget: {namespace: team-a-batch, service: batch, port: 8080}\n",
    );
    let output = signalbox(&["render", "--config", &config(), &request]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in [
        "# file: prod/team-a-batch/servicemeshmember-default.yaml",
        "# file: prod/team-a-batch/peerauthentication-default.yaml",
        "# file: prod/team-a-batch/sidecar-default.yaml",
        "# file: prod/team-a-batch/virtualservice-",
    ] {
        assert!(stdout.contains(file), "{file} in {stdout}");
    }

    // Without the onboarding, the route is refused with how to ask for the namespace.
    let route = write(
        dir.path(),
        "route.yaml",
        "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
         path: /batch\ntarget: {namespace: team-a-batch, service: batch, port: 8080}\n",
    );
    let output = signalbox(&["render", "--config", &config(), &route]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("target.namespace") && stderr.contains("kind Onboarding"),
        "{stderr}"
    );
}

#[test]
fn render_accepts_the_resilience_and_security_kinds_and_prints_what_to_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let granted = write(dir.path(), "route.yaml", ROUTE);
    let request = write(
        dir.path(),
        "canary.yaml",
        "kind: TrafficSplit\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
         path: /orders/v1\nnamespace: team-a\nrollout: orders\n\
         stable: {subset: stable}\ncanary: {subset: canary}\n\
         ---\nkind: CircuitBreaker\nenvironment: prod\nteam: team-a\nnamespace: team-a\n\
         service: orders\noutlierDetection: {consecutive5xxErrors: 5, maxEjectionPercent: 50}\n\
         ---\nkind: MutualTls\nenvironment: prod\nteam: team-a\nnamespace: team-a\nmode: STRICT\n",
    );

    let output = signalbox(&[
        "render",
        "--config",
        &config(),
        "--granted",
        &granted,
        &request,
    ]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(
        stdout.contains("# file: prod/team-a/destinationrule-orders.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("consecutive5xxErrors: 5"), "{stdout}");
    assert!(stdout.contains("subset: canary"), "{stdout}");
    assert!(stdout.contains("-rollout"), "{stdout}");
    // What the team merges into its Rollout, and the Application's ignoreDifferences.
    assert!(
        stderr.contains("note: Argo Rollout orders in team-a"),
        "{stderr}"
    );
    assert!(stderr.contains("canarySubsetName: canary"), "{stderr}");
    assert!(stderr.contains("RespectIgnoreDifferences=true"), "{stderr}");

    // A refusal names the file, the field and what is accepted.
    let bad = write(
        dir.path(),
        "bad.yaml",
        "kind: CircuitBreaker\nenvironment: prod\nteam: team-a\nnamespace: team-a\n\
         service: orders\nconnectionPool: {tcp: {maxConnections: 0}}\n",
    );
    let output = signalbox(&["render", "--config", &config(), &bad]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("connectionPool.tcp.maxConnections"),
        "{stderr}"
    );
}

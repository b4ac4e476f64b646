//! A fake Kubernetes API server at the HTTP level (wiremock): list responses and watch streams in
//! the API's documented shapes (`…List` objects with `metadata.resourceVersion`; newline-delimited
//! `{"type": "ADDED", "object": …}` watch events, `ERROR` events carrying a `Status`), and
//! `Status` bodies for refusals, so the real `kube` client and reflectors run against it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The fake API server.
pub struct FakeKube {
    pub server: MockServer,
}

/// The URL path of a resource, cluster-wide: `/api/v1/namespaces`,
/// `/apis/networking.istio.io/v1/virtualservices`.
pub fn resource_path(group: &str, version: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}/{plural}")
    } else {
        format!("/apis/{group}/{version}/{plural}")
    }
}

impl FakeKube {
    /// Starts the server. Every resource not set up otherwise answers `404 Not Found` (as for a
    /// CRD that is not installed), and every watch not set up otherwise ends after a moment
    /// without events (the client watches again from where it was, picking up watches set up
    /// meanwhile).
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("watch", "true"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("")
                    .set_delay(Duration::from_millis(200)),
            )
            .with_priority(100)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404).set_body_json(status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )))
            .with_priority(200)
            .mount(&server)
            .await;
        Self { server }
    }

    /// Answers the next `times` lists of a resource with `items` at `resource_version`, ahead of
    /// lists set up later (`priority` orders them: lower first).
    pub async fn list(
        &self,
        resource: &str,
        kind: &str,
        resource_version: &str,
        items: Vec<Value>,
        times: u64,
        priority: u8,
    ) {
        let body = json!({
            "apiVersion": "v1",
            "kind": format!("{kind}List"),
            "metadata": {"resourceVersion": resource_version},
            "items": items,
        });
        Mock::given(method("GET"))
            .and(path(resource))
            .and(query_param_is_missing("watch"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .up_to_n_times(times)
            .with_priority(priority)
            .mount(&self.server)
            .await;
    }

    /// Answers the next watch of a resource from `resource_version` with `events` (each
    /// `(type, object)`), then ends the stream.
    pub async fn watch(&self, resource: &str, resource_version: &str, events: Vec<(&str, Value)>) {
        let mut body = String::new();
        for (kind, object) in events {
            body.push_str(&json!({"type": kind, "object": object}).to_string());
            body.push('\n');
        }
        Mock::given(method("GET"))
            .and(path(resource))
            .and(query_param("watch", "true"))
            .and(query_param("resourceVersion", resource_version))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Refuses every list and watch of a resource with `403 Forbidden`, as the API server does
    /// when the role lacks the verb.
    pub async fn forbid(&self, resource: &str, plural_group: &str) {
        Mock::given(method("GET"))
            .and(path(resource))
            .respond_with(ResponseTemplate::new(403).set_body_json(status(
                403,
                "Forbidden",
                &format!(
                    "{plural_group} is forbidden: User \"system:serviceaccount:signalbox:signalbox\" \
                     cannot list resource \"{plural_group}\" at the cluster scope"
                ),
            )))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Lists of `resource` received so far (not watches).
    pub async fn lists_of(&self, resource: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                r.url.path() == resource
                    && !r
                        .url
                        .query_pairs()
                        .any(|(k, v)| k == "watch" && v == "true")
            })
            .count()
    }

    /// A kubeconfig file in `dir` whose context `fake` points at the server with a bearer token.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let file = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\n\
             clusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: signalbox\n  user:\n    token: fake-token\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: signalbox\n\
             - name: other\n  context:\n    cluster: missing\n    user: signalbox\n",
            self.server.uri()
        );
        std::fs::write(&file, text).expect("kubeconfig written");
        file
    }
}

/// A `Status` object, as the API server sends with a refusal or in a watch `ERROR` event.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// A namespace object.
pub fn namespace(name: &str, labels: Value, resource_version: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "resourceVersion": resource_version},
    })
}

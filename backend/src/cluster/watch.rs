//! The reflectors: one `kube::runtime` watcher per resource, feeding a store and reporting its
//! state.

use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};
use serde::Serialize;

use super::Resource;

/// What a resource's watch is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state", content = "message")]
pub enum ResourceState {
    /// Listing for the first time.
    Starting,
    /// Listed, and following changes.
    Ready,
    /// The watch fell too far behind (`410 Gone`): listing again.
    Relisting,
    /// The cluster does not serve this resource (its CRD is not installed).
    NotServed,
    /// Signalbox's role lacks a permission; the message names the verb and resource.
    Forbidden(String),
    /// Another failure, retried with backoff.
    Failing(String),
}

impl ResourceState {
    /// Listed and current.
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready)
    }
}

/// One resource's reflector.
pub(super) struct Watched {
    pub(super) resource: Resource,
    pub(super) store: Store<DynamicObject>,
    state: Arc<Mutex<ResourceState>>,
}

impl Watched {
    pub(super) fn state(&self) -> ResourceState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(ResourceState::Starting)
    }
}

/// A client for the pod's service account (`kubeconfig` `None`) or a kubeconfig file and context.
pub(super) async fn client(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, String> {
    let config = match kubeconfig {
        None => Config::incluster().map_err(|e| {
            format!("not running in a cluster with a service account ({e}); configure a kubeconfig")
        })?,
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            let options = KubeConfigOptions {
                context: context.map(str::to_owned),
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
    };
    Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}

/// Starts one reflector per resource on the current runtime.
pub(super) fn start(client: Client, environment: &str, resources: Vec<Resource>) -> Vec<Watched> {
    resources
        .into_iter()
        .map(|resource| {
            let api_resource = resource.api_resource();
            let writer = reflector::store::Writer::new(api_resource.clone());
            let store = writer.as_reader();
            let state = Arc::new(Mutex::new(ResourceState::Starting));
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource);
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer);
            tokio::spawn(follow(
                stream,
                resource.clone(),
                environment.to_owned(),
                state.clone(),
            ));
            Watched {
                resource,
                store,
                state,
            }
        })
        .collect()
}

async fn follow(
    stream: impl futures_util::Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>>,
    resource: Resource,
    environment: String,
    state: Arc<Mutex<ResourceState>>,
) {
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        let next = match item {
            Ok(watcher::Event::InitDone) => Some(ResourceState::Ready),
            Ok(_) => None,
            Err(error) => {
                let next = describe(&resource, &error);
                match &next {
                    ResourceState::Relisting => {
                        tracing::info!(%environment, resource = %resource.rbac_name(), "watch expired (410 Gone); listing again");
                    }
                    other => {
                        tracing::warn!(%environment, resource = %resource.rbac_name(), state = ?other, "cluster watch failed");
                    }
                }
                Some(next)
            }
        };
        if let (Some(next), Ok(mut current)) = (next, state.lock()) {
            *current = next;
        }
    }
}

/// What a watch error means for the resource's state.
fn describe(resource: &Resource, error: &watcher::Error) -> ResourceState {
    let (verb, source) = match error {
        watcher::Error::InitialListFailed(e) => ("list", Some(e)),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", Some(e)),
        watcher::Error::WatchError(status) => {
            return match status.code {
                410 => ResourceState::Relisting,
                403 => forbidden("watch", resource),
                _ => ResourceState::Failing(format!("watch ended: {}", status.message)),
            };
        }
        watcher::Error::NoResourceVersion => {
            return ResourceState::Failing(
                "the API server returned no resourceVersion; it cannot be watched".to_owned(),
            );
        }
    };
    match source {
        Some(kube::Error::Api(status)) if status.code == 403 => forbidden(verb, resource),
        Some(kube::Error::Api(status)) if status.code == 404 => ResourceState::NotServed,
        Some(kube::Error::Api(status)) if status.code == 410 => ResourceState::Relisting,
        Some(other) => {
            ResourceState::Failing(format!("cannot {verb} {}: {other}", resource.rbac_name()))
        }
        None => ResourceState::Failing(error.to_string()),
    }
}

fn forbidden(verb: &str, resource: &Resource) -> ResourceState {
    ResourceState::Forbidden(format!(
        "missing RBAC: Signalbox may not {verb} {} cluster-wide; apply deploy/clusterrole.yaml \
         (get, list and watch on exactly the resources it reads) and bind it to its service \
         account",
        resource.rbac_name()
    ))
}

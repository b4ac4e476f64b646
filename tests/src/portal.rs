//! A person using the portal over HTTP: a client with its own cookies, signed in through the
//! demo sign-in, calling the server functions the pages call (as the hydrated pages do: form
//! encoded, answered in JSON).

use serde::de::DeserializeOwned;

use crate::TestApp;

pub struct Visitor {
    pub persona: String,
    pub client: reqwest::Client,
    base: String,
}

/// The routed path of the server function `name` (its path carries a hash).
pub fn server_fn_path(name: &str) -> String {
    let prefix = format!("/api/{name}");
    server::http::route_inventory()
        .into_iter()
        .map(|(_, path)| path)
        .find(|path| {
            path.strip_prefix(&prefix)
                .is_some_and(|rest| rest.is_empty() || rest.chars().all(|c| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no server function {name} is routed"))
}

impl TestApp {
    /// A new visitor (own cookie jar) signed in as `persona`.
    pub async fn visitor(&self, persona: &str) -> Visitor {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client builds");
        let response = client
            .post(self.url("/auth/demo"))
            .form(&[("persona", persona), ("return_to", "/")])
            .send()
            .await
            .expect("sign-in sent");
        assert_eq!(response.status(), 303, "demo sign-in as {persona}");
        Visitor {
            persona: persona.to_owned(),
            client,
            base: self.address.clone(),
        }
    }
}

impl Visitor {
    /// Calls the server function `name` with form fields and returns the raw response.
    pub async fn post(&self, name: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.base, server_fn_path(name)))
            .form(fields)
            .send()
            .await
            .expect("sent")
    }

    /// Calls the server function `name` and decodes its answer; panics on a non-200 answer.
    pub async fn call<T: DeserializeOwned>(&self, name: &str, fields: &[(&str, &str)]) -> T {
        let response = self.post(name, fields).await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, 200, "{name} as {}: {body}", self.persona);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name} answered {body}: {e}"))
    }

    /// Opens a page and returns its HTML.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }
}

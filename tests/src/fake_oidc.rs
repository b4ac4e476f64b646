//! A fake identity provider at the HTTP level (wiremock): discovery document, signing keys and a
//! token endpoint whose ID token each test chooses, so forged and broken tokens can be played
//! against Signalbox's real OpenID Connect client.

use base64::Engine as _;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CLIENT_ID: &str = "signalbox";
pub const CLIENT_SECRET: &str = "test-secret";

const SIGNING_KEY: &str = include_str!("../fixtures/oidc-signing-key.pem");
const ROGUE_KEY: &str = include_str!("../fixtures/oidc-rogue-key.pem");

pub struct FakeProvider {
    pub server: MockServer,
    signing_key: CoreRsaPrivateSigningKey,
    rogue_key: CoreRsaPrivateSigningKey,
}

/// How the ID token of one test differs from a good one.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    pub nonce: String,
    pub audience: Option<String>,
    pub expired: bool,
    pub unsigned: bool,
    pub unknown_key: bool,
    pub groups: Vec<String>,
    /// `azp`, when set.
    pub authorized_party: Option<String>,
    /// `iat` an hour from now (a provider with a wrong clock, or a forged token).
    pub issued_in_future: bool,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let signing_key = CoreRsaPrivateSigningKey::from_pem(
            SIGNING_KEY,
            Some(JsonWebKeyId::new("test-key".into())),
        )
        .expect("signing key parses");
        let rogue_key = CoreRsaPrivateSigningKey::from_pem(
            ROGUE_KEY,
            Some(JsonWebKeyId::new("rogue-key".into())),
        )
        .expect("rogue key parses");
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
                "end_session_endpoint": format!("{issuer}/logout"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            })))
            .mount(&server)
            .await;
        let jwk = serde_json::to_value(signing_key.as_verification_key()).expect("jwk serializes");
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": [jwk] })))
            .mount(&server)
            .await;
        Self {
            server,
            signing_key,
            rogue_key,
        }
    }

    /// Rotates the provider's keys: from now on its JWKS publishes the second key as well.
    pub async fn publish_second_key(&self) {
        let keys: Vec<Value> = [&self.signing_key, &self.rogue_key]
            .iter()
            .map(|key| serde_json::to_value(key.as_verification_key()).expect("jwk serializes"))
            .collect();
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    /// Makes the token endpoint answer the next code exchange with an ID token built from `spec`;
    /// a second exchange of the same code gets `invalid_grant`, as a real provider answers.
    pub async fn issue_once(&self, spec: &TokenSpec) {
        let token = self.id_token(spec);
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "test-access-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": token,
            })))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_grant",
                "error_description": "authorization code already used",
            })))
            .with_priority(5)
            .mount(&self.server)
            .await;
    }

    pub fn id_token(&self, spec: &TokenSpec) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        let (issued, expires) = if spec.expired {
            (now - 7200, now - 3600)
        } else {
            (now, now + 300)
        };
        let issued = if spec.issued_in_future {
            now + 3600
        } else {
            issued
        };
        let mut payload = json!({
            "iss": self.issuer(),
            "sub": "user-123",
            "aud": spec.audience.clone().unwrap_or_else(|| CLIENT_ID.to_owned()),
            "exp": expires,
            "iat": issued,
            "nonce": spec.nonce,
            "name": "Alice Example",
            "email": "alice@example.com",
            "groups": spec.groups,
        });
        if let Some(azp) = &spec.authorized_party {
            payload["azp"] = json!(azp);
        }
        let (header, key) = if spec.unknown_key {
            (
                json!({ "alg": "RS256", "kid": "rogue-key", "typ": "JWT" }),
                &self.rogue_key,
            )
        } else {
            (
                json!({ "alg": "RS256", "kid": "test-key", "typ": "JWT" }),
                &self.signing_key,
            )
        };
        if spec.unsigned {
            let header = json!({ "alg": "none", "typ": "JWT" });
            return format!("{}.{}.", b64(&header), b64(&payload));
        }
        let signing_input = format!("{}.{}", b64(&header), b64(&payload));
        let signature = key
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                signing_input.as_bytes(),
            )
            .expect("signs");
        format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
        )
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(value).expect("json"))
}

//! OpenID Connect sign-in: authorization code flow with PKCE, `state` and `nonce`, through the
//! `openidconnect` crate. The provider is found by discovery from its issuer URL; the ID token is
//! checked for issuer, audience, expiry, nonce and a signature by an allowed algorithm before
//! anything from it is believed. Works with Keycloak, Dex and any conformant provider.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::reqwest;
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenVerifier, IssuerUrl,
    JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use super::{SessionUser, SignInMethod};

/// The RP-initiated logout endpoint, which `CoreProviderMetadata` does not carry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogoutMetadata {
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
}
impl AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the server needs to know to talk to the provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// Our callback, `<public url>/auth/callback`.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// The claim holding the user's groups (`groups` for Keycloak and Dex).
    pub groups_claim: String,
    /// Signature algorithms an ID token may use; `none` is never accepted.
    pub allowed_algorithms: Vec<String>,
    /// Also ask the userinfo endpoint for the groups and profile.
    pub use_userinfo: bool,
}

/// A sign-in that went to the provider; kept in the session until its callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
}

/// The sign-ins this browser session has started and not finished, newest last: one per tab that
/// was sent to the provider, so finishing one does not break another.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PendingLogins(Vec<PendingLogin>);

impl PendingLogins {
    /// At most this many are kept; the oldest is dropped first.
    const LIMIT: usize = 5;

    pub fn add(&mut self, login: PendingLogin) {
        self.0.push(login);
        if self.0.len() > Self::LIMIT {
            self.0.remove(0);
        }
    }

    /// Removes and returns the sign-in that sent `state` to the provider.
    pub fn take(&mut self, state: &str) -> Option<PendingLogin> {
        let index = self
            .0
            .iter()
            .position(|login| constant_time_eq(login.state.as_bytes(), state.as_bytes()))?;
        Some(self.0.remove(index))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How far ahead of this server's clock a token's `iat` may be.
const MAX_CLOCK_SKEW_SECONDS: i64 = 60;

/// The provider's error codes (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6) in our own words:
/// the provider's `error_description` is never shown, since anyone can put text in a callback URL.
pub fn provider_error_words(code: &str) -> String {
    let words = match code {
        "access_denied" => "you, or the provider's policy, declined the sign-in",
        "login_required" | "interaction_required" => {
            "the provider needs you to sign in there first"
        }
        "consent_required" => "the provider needs your consent for Signalbox first",
        "account_selection_required" => "the provider needs you to choose an account",
        "invalid_request" | "invalid_request_uri" | "invalid_request_object" => {
            "the provider found the sign-in request malformed; tell your platform team"
        }
        "unauthorized_client" | "unsupported_response_type" | "invalid_scope" => {
            "Signalbox is not set up correctly at the provider; tell your platform team"
        }
        "server_error" | "temporarily_unavailable" => {
            "the provider had a problem; try again in a moment"
        }
        _ => "for a reason it did not name in a way Signalbox knows",
    };
    let code: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    format!("{words} (code {code})")
}

/// Why a callback was refused. Each message says what happened and what to do; none echoes
/// tokens or secrets.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(
        "This sign-in was not started in this browser, or was already completed. Start the sign-in again."
    )]
    NoPendingLogin,
    #[error(
        "The sign-in response does not match the sign-in this browser started (wrong state). Start the sign-in again."
    )]
    StateMismatch,
    #[error("The identity provider refused the sign-in: {0}")]
    ProviderRefused(String),
    #[error(
        "The identity provider did not accept the sign-in code; it may have been used already. Start the sign-in again."
    )]
    CodeRejected,
    #[error("The identity provider returned no ID token.")]
    NoIdToken,
    #[error("The sign-in token was not issued for this sign-in (wrong nonce).")]
    WrongNonce,
    #[error("The sign-in token was issued for another application (wrong audience).")]
    WrongAudience,
    #[error("The sign-in token was issued by another provider (wrong issuer).")]
    WrongIssuer,
    #[error("The sign-in token was issued to another application (wrong authorized party, azp).")]
    WrongAuthorizedParty,
    #[error(
        "The sign-in token claims to be issued in the future. Check this server's clock and the identity provider's, then sign in again."
    )]
    IssuedInFuture,
    #[error(
        "The sign-in token has expired. Check that this server's clock is right, then sign in again."
    )]
    Expired,
    #[error("The sign-in token is not signed with an allowed algorithm.")]
    DisallowedAlgorithm,
    #[error("The sign-in token is signed with a key the identity provider does not publish.")]
    UnknownKey,
    #[error("The sign-in token's signature is not valid.")]
    BadSignature,
    #[error("The sign-in token could not be checked: {0}")]
    Invalid(String),
    #[error("The identity provider could not be reached. Try again in a moment.")]
    Unreachable,
}

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    #[error("auth.issuer is not a valid URL: {0}")]
    Issuer(String),
    #[error("the public URL gives no valid redirect URL: {0}")]
    RedirectUrl(String),
    #[error(
        "auth.allowed_algorithms: {0:?} is not a JWS algorithm (accepted: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
    )]
    Algorithm(String),
    #[error("provider discovery at {issuer} failed: {reason}")]
    Discovery { issuer: String, reason: String },
}

/// The provider's signing keys as last fetched; refetched when a token names a key we lack
/// (the provider rotated its keys), at most once a minute.
#[derive(Debug)]
struct SigningKeys {
    url: JsonWebKeySetUrl,
    keys: RwLock<CoreJsonWebKeySet>,
    last_fetch: Mutex<Option<Instant>>,
}

/// How soon after one key fetch another may happen.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A discovered provider, ready for sign-ins.
#[derive(Debug, Clone)]
pub struct OidcClient {
    client: DiscoveredClient,
    client_secret: Option<SecretString>,
    issuer: IssuerUrl,
    keys: Arc<SigningKeys>,
    http: reqwest::Client,
    scopes: Vec<String>,
    groups_claim: String,
    allowed_algorithms: Vec<CoreJwsSigningAlgorithm>,
    use_userinfo: bool,
    end_session_endpoint: Option<Url>,
    userinfo_endpoint: Option<Url>,
}

impl OidcClient {
    /// The provider's issuer URL, as sessions record it.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// Discovers the provider (`<issuer>/.well-known/openid-configuration` and its keys).
    #[tracing::instrument(skip_all, fields(issuer = %settings.issuer), err)]
    pub async fn discover(settings: &OidcSettings) -> Result<Self, OidcSetupError> {
        let allowed_algorithms = settings
            .allowed_algorithms
            .iter()
            .map(|name| parse_algorithm(name))
            .collect::<Result<Vec<_>, _>>()?;
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|error| OidcSetupError::Issuer(error.to_string()))?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|error| OidcSetupError::RedirectUrl(error.to_string()))?;
        let http = reqwest::ClientBuilder::new()
            // Following redirects would open the client up to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|error| OidcSetupError::Discovery {
                issuer: settings.issuer.clone(),
                reason: error.to_string(),
            })?;
        let metadata = Metadata::discover_async(issuer, &http)
            .await
            .map_err(|error| OidcSetupError::Discovery {
                issuer: settings.issuer.clone(),
                reason: error_chain(&error),
            })?;
        let end_session_endpoint = metadata.additional_metadata().end_session_endpoint.clone();
        let issuer = metadata.issuer().clone();
        let keys = Arc::new(SigningKeys {
            url: metadata.jwks_uri().clone(),
            keys: RwLock::new(metadata.jwks().clone()),
            // The first unknown key may trigger a fetch at once.
            last_fetch: Mutex::new(None),
        });
        let userinfo_endpoint = metadata.userinfo_endpoint().map(|url| url.url().clone());
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            settings
                .client_secret
                .as_ref()
                .map(|secret| ClientSecret::new(secret.expose_secret().to_owned())),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            client,
            client_secret: settings.client_secret.clone(),
            issuer,
            keys,
            http,
            scopes: settings.scopes.clone(),
            groups_claim: settings.groups_claim.clone(),
            allowed_algorithms,
            use_userinfo: settings.use_userinfo,
            end_session_endpoint,
            userinfo_endpoint,
        })
    }

    /// Starts a sign-in: the URL to send the browser to, and what the session keeps for the
    /// callback.
    pub fn begin(&self, return_to: String) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to,
        };
        (url, pending)
    }

    /// Completes a sign-in from the callback's `code` and `state`.
    #[tracing::instrument(skip_all, err(Display))]
    pub async fn complete(
        &self,
        pending: PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<SessionUser, SignInError> {
        if !constant_time_eq(pending.state.as_bytes(), state.as_bytes()) {
            return Err(SignInError::StateMismatch);
        }
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| SignInError::Invalid(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier));
        let response = request.request_async(&self.http).await.map_err(|error| {
            tracing::warn!(error = %error_chain(&error), "token exchange failed");
            match error {
                openidconnect::RequestTokenError::ServerResponse(_) => SignInError::CodeRejected,
                openidconnect::RequestTokenError::Request(_) => SignInError::Unreachable,
                other => SignInError::Invalid(short(&other.to_string())),
            }
        })?;
        let id_token = response.id_token().ok_or(SignInError::NoIdToken)?;
        let nonce = Nonce::new(pending.nonce);
        let verifier = self.verifier();
        let claims = match id_token.claims(&verifier, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.refresh_keys().await => {
                let verifier = self.verifier();
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(classify_claims_error)?
                    .clone()
            }
            checked => checked.map_err(classify_claims_error)?.clone(),
        };

        // `azp`, when present, names the party the token was issued to: it must be us.
        if let Some(azp) = claims.authorized_party()
            && azp.as_str() != self.client.client_id().as_str()
        {
            return Err(SignInError::WrongAuthorizedParty);
        }
        // A token issued in the future (beyond a small clock skew) is forged or from a broken
        // clock; either way it is not accepted.
        if claims.issue_time().timestamp()
            > OffsetDateTime::now_utc().unix_timestamp() + MAX_CLOCK_SKEW_SECONDS
        {
            return Err(SignInError::IssuedInFuture);
        }

        // The payload was verified above; read the claims the core types leave out (groups).
        let raw = id_token.to_string();
        let mut extra = decode_payload(&raw).unwrap_or(Value::Null);
        if self.use_userinfo
            && let Some(info) = self.userinfo(response.access_token().secret()).await
        {
            merge_userinfo(&mut extra, info, claims.subject().as_str());
        }
        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string())
            .or_else(|| claims.preferred_username().map(|name| name.to_string()))
            .or_else(|| extra.get("name").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| claims.subject().to_string());
        Ok(SessionUser {
            subject: claims.subject().to_string(),
            name,
            email: claims.email().map(|email| email.to_string()),
            groups: groups_from(&extra, &self.groups_claim),
            method: SignInMethod::Oidc,
            issuer: Some(self.issuer.as_str().to_owned()),
            signed_in_at: OffsetDateTime::now_utc(),
            id_token: Some(raw),
        })
    }

    /// An ID token verifier over the signing keys as last fetched.
    fn verifier(&self) -> IdTokenVerifier<'static, CoreJsonWebKey> {
        let keys = self
            .keys
            .keys
            .read()
            .map(|keys| keys.clone())
            .unwrap_or_default();
        let client_id = self.client.client_id().clone();
        let issuer = self.issuer.clone();
        let verifier = match &self.client_secret {
            Some(secret) => IdTokenVerifier::new_confidential_client(
                client_id,
                ClientSecret::new(secret.expose_secret().to_owned()),
                issuer,
                keys,
            ),
            None => IdTokenVerifier::new_public_client(client_id, issuer, keys),
        };
        verifier.set_allowed_algs(self.allowed_algorithms.clone())
    }

    /// Fetches the provider's keys again unless that happened within the last minute; true when
    /// new keys were stored.
    async fn refresh_keys(&self) -> bool {
        {
            let Ok(mut last) = self.keys.last_fetch.lock() else {
                return false;
            };
            if last.is_some_and(|at| at.elapsed() < KEY_REFRESH_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match CoreJsonWebKeySet::fetch_async(&self.keys.url, &self.http).await {
            Ok(fresh) => {
                tracing::info!("fetched the identity provider's signing keys again");
                if let Ok(mut keys) = self.keys.keys.write() {
                    *keys = fresh;
                }
                true
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "refetching signing keys failed");
                false
            }
        }
    }

    /// The origin sign-out redirects to, which the Content-Security-Policy must allow.
    pub fn end_session_origin(&self) -> Option<String> {
        self.end_session_endpoint
            .as_ref()
            .map(|url| url.origin().ascii_serialization())
    }

    async fn userinfo(&self, access_token: &str) -> Option<Value> {
        let url = self.userinfo_endpoint.clone()?;
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "userinfo request failed");
            return None;
        }
        let body = response.bytes().await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// Where to send the browser to end the provider's session too, when it offers that.
    pub fn sign_out_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect: &str,
    ) -> Option<Url> {
        let mut url = self.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                query.append_pair("id_token_hint", hint);
            }
            query.append_pair("client_id", self.client.client_id().as_str());
            query.append_pair("post_logout_redirect_uri", post_logout_redirect);
        }
        Some(url)
    }
}

fn parse_algorithm(name: &str) -> Result<CoreJwsSigningAlgorithm, OidcSetupError> {
    let algorithm =
        serde_json::from_value::<CoreJwsSigningAlgorithm>(Value::String(name.to_owned()))
            .map_err(|_| OidcSetupError::Algorithm(name.to_owned()))?;
    match algorithm {
        CoreJwsSigningAlgorithm::None
        | CoreJwsSigningAlgorithm::HmacSha256
        | CoreJwsSigningAlgorithm::HmacSha384
        | CoreJwsSigningAlgorithm::HmacSha512 => Err(OidcSetupError::Algorithm(name.to_owned())),
        other => Ok(other),
    }
}

fn classify_claims_error(error: ClaimsVerificationError) -> SignInError {
    tracing::warn!(error = %error_chain(&error), "ID token refused");
    match error {
        ClaimsVerificationError::InvalidNonce(_) => SignInError::WrongNonce,
        ClaimsVerificationError::InvalidAudience(_) => SignInError::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => SignInError::WrongIssuer,
        ClaimsVerificationError::Expired(_) => SignInError::Expired,
        ClaimsVerificationError::SignatureVerification(signature) => match signature {
            SignatureVerificationError::NoSignature
            | SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_) => SignInError::DisallowedAlgorithm,
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_) => SignInError::UnknownKey,
            _ => SignInError::BadSignature,
        },
        other => SignInError::Invalid(short(&other.to_string())),
    }
}

/// The JSON payload of a compact JWS, without checking anything (the caller already did).
fn decode_payload(token: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Userinfo adds to the token's claims, but only when it speaks of the same subject.
fn merge_userinfo(extra: &mut Value, info: Value, subject: &str) {
    if info.get("sub").and_then(Value::as_str) != Some(subject) {
        tracing::warn!("userinfo answered for another subject; ignored");
        return;
    }
    if let (Value::Object(target), Value::Object(source)) = (extra, info) {
        for (key, value) in source {
            target.entry(key).or_insert(value);
        }
    }
}

/// Groups from a claim that is an array of strings, or a single string naming one group. A
/// string is never split: group names may contain spaces and commas, and splitting one could
/// turn "Ops platform-admins" into membership of "platform-admins".
/// Keycloak's full-path groups (`/team-a`) are matched without the leading slash.
pub fn groups_from(claims: &Value, claim: &str) -> Vec<String> {
    let raw: Vec<String> = match claims.get(claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) if !text.is_empty() => vec![text.clone()],
        _ => Vec::new(),
    };
    let mut groups: Vec<String> = raw
        .into_iter()
        .map(|group| group.trim_start_matches('/').to_owned())
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_read_from_arrays_and_strings() {
        let claims = serde_json::json!({ "groups": ["/team-a", "platform-approvers", "team-a"], "roles": "Ops platform-admins" });
        assert_eq!(
            groups_from(&claims, "groups"),
            ["platform-approvers", "team-a"]
        );
        assert_eq!(groups_from(&claims, "roles"), ["Ops platform-admins"]);
        assert!(groups_from(&claims, "missing").is_empty());
    }

    fn login(state: &str) -> PendingLogin {
        PendingLogin {
            state: state.to_owned(),
            nonce: String::new(),
            pkce_verifier: String::new(),
            return_to: "/".to_owned(),
        }
    }

    #[test]
    fn pending_sign_ins_are_taken_by_state_and_kept_to_a_few() {
        let mut pending = PendingLogins::default();
        for state in ["a", "b", "c", "d", "e", "f"] {
            pending.add(login(state));
        }
        assert!(pending.take("a").is_none(), "the oldest was dropped");
        assert_eq!(
            pending.take("c").map(|login| login.state).as_deref(),
            Some("c")
        );
        assert!(pending.take("c").is_none(), "a sign-in is taken once");
        assert!(pending.take("forged").is_none());
        assert!(!pending.is_empty());
    }

    #[test]
    fn algorithm_none_and_shared_secret_algorithms_are_refused() {
        for name in ["none", "HS256", "nonsense"] {
            assert!(parse_algorithm(name).is_err(), "{name}");
        }
        assert!(parse_algorithm("RS256").is_ok());
        assert!(parse_algorithm("ES256").is_ok());
    }

    #[test]
    fn userinfo_for_another_subject_is_ignored() {
        let mut extra = serde_json::json!({ "sub": "alice" });
        merge_userinfo(
            &mut extra,
            serde_json::json!({ "sub": "mallory", "groups": ["admins"] }),
            "alice",
        );
        assert!(extra.get("groups").is_none());
        merge_userinfo(
            &mut extra,
            serde_json::json!({ "sub": "alice", "groups": ["team-a"] }),
            "alice",
        );
        assert_eq!(extra["groups"][0], "team-a");
    }
}

//! OIDC login (API.md 2.1): verifies an ID token (RS256 or ES256) against the
//! JWKS of a configured issuer, fetched with reqwest and cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::OidcIssuer;
use crate::error::{ApiError, ErrorKind};

/// How long a fetched JWKS is trusted before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// Tokens naming an unknown key refetch the JWKS at most this often, so a
/// flood of them cannot get chorus rate-limited by the identity provider.
const JWKS_REFETCH_MIN: Duration = Duration::from_secs(60);

/// Who an ID token says the user is.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcIdentity {
    pub iss: String,
    pub sub: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

#[derive(Clone)]
pub struct OidcVerifier {
    issuers: Arc<Vec<OidcIssuer>>,
    http: reqwest::Client,
    /// JWKS by URL, with when it was fetched.
    jwks: Arc<DashMap<String, (Instant, Arc<JwkSet>)>>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

fn refused(message: &'static str) -> ApiError {
    chorus_actors::CoreError::unauthenticated("invalid", message).into()
}

impl OidcVerifier {
    pub fn new(issuers: Vec<OidcIssuer>, http: reqwest::Client) -> Self {
        Self {
            issuers: Arc::new(issuers),
            http,
            jwks: Arc::new(DashMap::new()),
        }
    }

    /// The verified identity in `id_token`; 401 for any token that does not verify.
    pub async fn verify(&self, id_token: &str) -> Result<OidcIdentity, ApiError> {
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| refused("malformed ID token"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(refused("ID token algorithm must be RS256 or ES256"));
        }
        // Only to pick the issuer's configuration; nothing is trusted before the signature check.
        let unverified: IssuerOnly = jsonwebtoken::dangerous::insecure_decode_claims(id_token)
            .map_err(|_| refused("malformed ID token"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer == unverified.iss)
            .ok_or_else(|| refused("ID token issuer is not accepted"))?;
        let kid = header.kid.clone().unwrap_or_default();
        let key = match self.key(issuer, &kid, false).await? {
            Some(key) => key,
            // The issuer may have rotated its keys since the cached fetch.
            None => self
                .key(issuer, &kid, true)
                .await?
                .ok_or_else(|| refused("ID token key is unknown"))?,
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer.issuer]);
        validation.set_audience(&[&issuer.audience]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let identity = jsonwebtoken::decode::<OidcIdentity>(id_token, &key, &validation)
            .map_err(|_| refused("ID token did not verify"))?
            .claims;
        // An unverified (or unasserted) email could be anyone's: never trust it.
        if identity.email.is_none() || identity.email_verified != Some(true) {
            return Err(refused("ID token carries no verified email"));
        }
        Ok(identity)
    }

    async fn key(
        &self,
        issuer: &OidcIssuer,
        kid: &str,
        refetch: bool,
    ) -> Result<Option<DecodingKey>, ApiError> {
        let set = self.jwks(&issuer.jwks_url, refetch).await?;
        let jwk = match kid {
            "" if set.keys.len() == 1 => set.keys.first(),
            kid => set.find(kid),
        };
        Ok(jwk.and_then(|jwk| DecodingKey::from_jwk(jwk).ok()))
    }

    async fn jwks(&self, url: &str, refetch: bool) -> Result<Arc<JwkSet>, ApiError> {
        if let Some(entry) = self.jwks.get(url) {
            let age = entry.0.elapsed();
            if age < JWKS_TTL && (!refetch || age < JWKS_REFETCH_MIN) {
                return Ok(entry.1.clone());
            }
        }
        let fetch = async {
            self.http
                .get(url)
                .timeout(Duration::from_secs(10))
                .send()
                .await?
                .error_for_status()?
                .json::<JwkSet>()
                .await
        };
        let set = Arc::new(fetch.await.map_err(|e| {
            tracing::warn!(error = %e, "JWKS fetch failed");
            ApiError::new(
                ErrorKind::ExternalService,
                "could not fetch the issuer's keys",
            )
        })?);
        self.jwks
            .insert(url.to_string(), (Instant::now(), set.clone()));
        Ok(set)
    }
}

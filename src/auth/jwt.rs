//! Access tokens: HS256 JWTs with `sub`, `sid`, `role`, `exp`, `iat`, `jti`,
//! and under impersonation `act` (RFC 8693: `{"sub": "<admin id>"}`).

use std::path::Path;
use std::time::Duration;

use chorus_actors::accounts::secrets;
use chorus_actors::model::User;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Secret;

/// The shortest HS256 secret accepted (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims chorus puts in an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    /// The session the token belongs to; revoking it refuses the token.
    pub sid: Uuid,
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Under impersonation, the admin acting as `sub` (RFC 8693's actor claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// RFC 8693's `act` claim: who acts on the subject's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting admin's user id.
    pub sub: Uuid,
}

/// Why a token was refused, as `X-Auth-Reason` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefused {
    Expired,
    Invalid,
}

/// Verified tokens kept before the cache is emptied and starts over.
const VERIFIED_CAP: usize = 8192;

/// The signing keys. Debug never shows them.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens whose signature and claims were checked, by the SHA-256 of the
    /// token (the token itself is never kept): a client sends the same token
    /// with each request for its whole life, and the check it skips (two
    /// base64 and JSON passes over the header and claims, an HMAC) was a
    /// tenth of the CPU of an authenticated request (docs/design/perf.md).
    /// Expiry is still checked on every use; revocation is checked by the
    /// caller after this, as before.
    verified: dashmap::DashMap<[u8; 32], Claims>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

impl JwtKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: dashmap::DashMap::new(),
        }
    }

    /// The configured secret, or the one kept in the data dir (made on first start).
    pub fn load(configured: Option<&Secret>, data_dir: &Path) -> std::io::Result<Self> {
        if let Some(secret) = configured {
            return Ok(Self::from_secret(secret.expose().as_bytes()));
        }
        let path = data_dir.join("jwt_secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) if s.trim().len() >= MIN_SECRET_BYTES => s.trim().to_string(),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} holds no usable secret; delete it to have a new one made",
                    path.display()
                )));
            }
            // Only a missing file means "first start"; any other error must
            // not silently replace the secret (and log everyone out).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                chorus_actors::store::create_private_dir(data_dir)?;
                let secret = format!("{}{}", secrets::random_secret(), secrets::random_secret());
                write_private(&path, &secret)?;
                secret
            }
            Err(e) => return Err(e),
        };
        Ok(Self::from_secret(secret.as_bytes()))
    }

    /// A signed access token for `user` in session `sid`, and its expiry (unix seconds).
    pub fn issue(
        &self,
        user: &User,
        sid: Uuid,
        ttl: Duration,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        self.issue_as(user, sid, ttl, None)
    }

    /// [`JwtKeys::issue`] for an impersonation: `user` is the target and
    /// `act` the admin acting as them.
    pub fn issue_as(
        &self,
        user: &User,
        sid: Uuid,
        ttl: Duration,
        act: Option<Uuid>,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            sid,
            role: user.role.as_str().to_string(),
            exp: now + ttl.as_secs() as i64,
            iat: now,
            jti: Uuid::now_v7(),
            act: act.map(|sub| Actor { sub }),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims.exp))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenRefused> {
        let digest = secrets::sha256(token);
        if let Some(claims) = self.verified.get(&digest) {
            // jsonwebtoken's own rule: expired once `exp` is more than the
            // leeway in the past.
            let now = chrono::Utc::now().timestamp();
            if claims.exp < now - self.validation.leeway as i64 {
                drop(claims);
                self.verified.remove(&digest);
                return Err(TokenRefused::Expired);
            }
            return Ok(claims.clone());
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenRefused::Expired,
                _ => TokenRefused::Invalid,
            })?;
        if self.verified.len() >= VERIFIED_CAP {
            self.verified.clear();
        }
        self.verified.insert(digest, claims.clone());
        Ok(claims)
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_actors::model::Role;

    fn user() -> User {
        User {
            id: Uuid::now_v7(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            full_name: None,
            avatar_url: None,
            role: Role::User,
            is_active: true,
            password_hash: None,
            monthly_token_allowance: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_token_verifies_with_its_own_key_only() {
        let keys = JwtKeys::from_secret(b"one secret, long enough for hs256 use");
        let u = user();
        let sid = Uuid::now_v7();
        let (token, _) = keys.issue(&u, sid, Duration::from_secs(60)).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.sid, claims.role.as_str()),
            (u.id, sid, "user")
        );
        let other = JwtKeys::from_secret(b"another secret, also long enough ok");
        assert_eq!(other.verify(&token).unwrap_err(), TokenRefused::Invalid);
    }

    #[test]
    fn an_expired_token_says_expired() {
        let keys = JwtKeys::from_secret(b"one secret, long enough for hs256 use");
        let mut claims = Claims {
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            role: "user".into(),
            exp: chrono::Utc::now().timestamp() - 60,
            iat: 0,
            jti: Uuid::now_v7(),
            act: None,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &keys.encoding).unwrap();
        assert_eq!(keys.verify(&token).unwrap_err(), TokenRefused::Expired);
        claims.exp += 3600;
        let token = jsonwebtoken::encode(&Header::default(), &claims, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_ok());
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_changed_one_is_checked_again() {
        let keys = JwtKeys::from_secret(b"one secret, long enough for hs256 use");
        let (token, _) = keys
            .issue(&user(), Uuid::now_v7(), Duration::from_secs(60))
            .unwrap();
        let first = keys.verify(&token).unwrap();
        let digest = secrets::sha256(&token);
        assert!(
            keys.verified.contains_key(&digest),
            "remembered once verified"
        );
        assert_eq!(
            keys.verify(&token).unwrap().jti,
            first.jti,
            "answered from memory"
        );
        // One character inside the signature changed: not the remembered token.
        let at = token.len() - 5;
        let swap = if &token[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swap}{}", &token[..at], &token[at + 1..]);
        assert_eq!(keys.verify(&forged).unwrap_err(), TokenRefused::Invalid);
        // The remembered claims expire like any: moved past exp + leeway.
        keys.verified.get_mut(&digest).unwrap().exp = chrono::Utc::now().timestamp() - 6;
        assert_eq!(keys.verify(&token).unwrap_err(), TokenRefused::Expired);
        assert!(keys.verified.get(&digest).is_none(), "and forgotten");
    }

    #[test]
    fn an_impersonation_token_names_both_users() {
        let keys = JwtKeys::from_secret(b"one secret, long enough for hs256 use");
        let (target, admin) = (user(), Uuid::now_v7());
        let (token, _) = keys
            .issue_as(
                &target,
                Uuid::now_v7(),
                Duration::from_secs(60),
                Some(admin),
            )
            .unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.act),
            (target.id, Some(Actor { sub: admin }))
        );
        let (plain, _) = keys
            .issue(&target, Uuid::now_v7(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(keys.verify(&plain).unwrap().act, None);
    }

    #[test]
    fn the_generated_secret_is_kept_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = JwtKeys::load(None, dir.path()).unwrap();
        let b = JwtKeys::load(None, dir.path()).unwrap();
        let (token, _) = a
            .issue(&user(), Uuid::now_v7(), Duration::from_secs(60))
            .unwrap();
        assert!(b.verify(&token).is_ok(), "a restart must keep tokens valid");
    }
}

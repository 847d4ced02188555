//! Bearer-token authentication and the rules of who may act on whom.
//!
//! Tokens are JWTs checked against one configured key: an HS256 secret, or
//! an RS256/ES256 public key. The algorithm is bound to the key, so `none`
//! and every other algorithm are refused (an HS256 token made with the
//! public key as its secret included). `exp` is required; `nbf` is checked
//! when present, both with the configured leeway.

use std::sync::Arc;

use anyhow::Context as _;
use avatar_common::UserId;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::settings::{AuthSettings, TokenArgs};
use crate::state::AppState;

/// The scope that lets a caller act on any user.
pub const ADMIN_SCOPE: &str = "avatars:admin";

/// The path alias for the caller's own user id.
pub const ME: &str = "me";

/// Checks tokens against the configured key.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

impl Verifier {
    /// The verifier the settings describe.
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings
            .jwt_secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty());
        let (key, algorithm) = match (secret, &settings.jwt_public_key_file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "both AVATARS_JWT_SECRET and AVATARS_JWT_PUBLIC_KEY_FILE are set; set only one"
            ),
            (Some(secret), None) => {
                let secret = secret.expose_secret();
                anyhow::ensure!(
                    secret.len() >= 16,
                    "AVATARS_JWT_SECRET is shorter than 16 bytes; use a long random secret"
                );
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path).with_context(|| {
                    format!("cannot read AVATARS_JWT_PUBLIC_KEY_FILE {}", path.display())
                })?;
                if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                    (key, Algorithm::ES256)
                } else {
                    anyhow::bail!(
                        "{} is not an RSA or EC public key in PEM form",
                        path.display()
                    );
                }
            }
            (None, None) => anyhow::bail!(
                "no JWT key: set AVATARS_JWT_SECRET (HS256) or AVATARS_JWT_PUBLIC_KEY_FILE (RS256/ES256)"
            ),
        };
        let mut validation = Validation::new(algorithm);
        let mut required = vec!["exp", "sub"];
        validation.leeway = settings.jwt_leeway_secs;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        if let Some(issuer) = &settings.jwt_issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = &settings.jwt_audience {
            validation.set_audience(&[audience]);
            validation.validate_aud = true;
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }

    /// The caller a bearer token names, if the token is valid.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let header = decode_header(token)
            .map_err(|_| ApiError::Unauthenticated("the bearer token is malformed".into()))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(ApiError::Unauthenticated(
                "the bearer token is signed with an algorithm this service does not accept".into(),
            ));
        }
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let message = match e.kind() {
                ErrorKind::ExpiredSignature => "the bearer token has expired".into(),
                ErrorKind::ImmatureSignature => "the bearer token is not valid yet".into(),
                ErrorKind::InvalidSignature => "the bearer token's signature is invalid".into(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the bearer token lacks the required claim {claim:?}")
                }
                ErrorKind::InvalidIssuer => "the bearer token has the wrong issuer".into(),
                ErrorKind::InvalidAudience => "the bearer token has the wrong audience".into(),
                _ => "the bearer token is invalid".into(),
            };
            ApiError::Unauthenticated(message)
        })?;
        let user = data.claims.sub.parse::<UserId>().map_err(|_| {
            ApiError::Unauthenticated("the bearer token's sub is not a valid user id".into())
        })?;
        let admin = data
            .claims
            .scope
            .as_deref()
            // RFC 6749 section 3.3: scopes are separated by spaces, and
            // by nothing else.
            .is_some_and(|scope| scope.split(' ').any(|s| s == ADMIN_SCOPE));
        Ok(Caller { user, admin })
    }
}

/// The claims of a token [`make_token`] signs.
#[derive(Serialize)]
struct NewClaims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// A token for `args.user` that this service accepts, signed with the
/// HS256 secret of `settings` (a public key cannot sign one).
pub fn make_token(settings: &AuthSettings, args: &TokenArgs) -> anyhow::Result<String> {
    let user = args
        .user
        .parse::<UserId>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(secret) = settings
        .jwt_secret
        .as_ref()
        .filter(|s| !s.expose_secret().is_empty())
    else {
        anyhow::bail!(
            "tokens are signed with AVATARS_JWT_SECRET, which is not set; with \
             AVATARS_JWT_PUBLIC_KEY_FILE, tokens come from whoever holds the private key"
        );
    };
    // Checked as the API checks it, so a token made here is one it accepts.
    Verifier::from_settings(settings)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let claims = NewClaims {
        sub: user.as_str(),
        iat: now,
        exp: now.saturating_add(args.expires_in_secs),
        scope: args.admin.then_some(ADMIN_SCOPE),
        iss: settings.jwt_issuer.as_deref(),
        aud: settings.jwt_audience.as_deref(),
    };
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).context("cannot sign the token")
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    pub admin: bool,
}

impl Caller {
    /// The user a path segment names: `me`, or a user id.
    pub fn resolve(&self, segment: &str) -> Result<UserId, ApiError> {
        if segment == ME {
            return Ok(self.user.clone());
        }
        segment
            .parse::<UserId>()
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))
    }

    /// The user a path segment names, if the caller may change that user's
    /// avatar.
    pub fn may_act_on(&self, segment: &str) -> Result<UserId, ApiError> {
        let user = self.resolve(segment)?;
        if user == self.user || self.admin {
            Ok(user)
        } else {
            Err(ApiError::Forbidden(format!(
                "you may only change your own avatar; changing another user's needs the {ADMIN_SCOPE} scope"
            )))
        }
    }

    /// Whether the caller may see things belonging to `user`.
    pub fn may_see(&self, user: &UserId) -> bool {
        self.admin || &self.user == user
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // The rate-limit middleware may have checked the token already.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        state.verifier.verify(bearer_token(&parts.headers)?)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthenticated("send an Authorization: Bearer <token> header".into())
    })?;
    header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("the Authorization header must be 'Bearer <token>'".into())
        })
}

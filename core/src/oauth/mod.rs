//! OAuth 2.0 authorization-code flow with PKCE, as pure helpers: the library
//! builds the URLs and request bodies and parses the responses; the host
//! makes every HTTP call itself.
//!
//! - [`PkceVerifier`]: RFC 7636 code verifier, S256 challenge only.
//! - [`new_state`] / [`check_state_format`]: a random UUID v4 `state` against
//!   CSRF (RFC 6749 §10.12).
//! - [`authorization_url`]: where to send the user.
//! - [`token_request_form`] / [`refresh_request_form`]: the
//!   `application/x-www-form-urlencoded` bodies the host posts to the token
//!   endpoint.
//! - [`TokenSet`]: parsed from the token endpoint's response, stored sealed
//!   as JSON ([`TokenSet::to_secret_json`]), refreshed when it expires within
//!   [`REFRESH_BUFFER`].
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::Timestamp;
//! use secrets_core::oauth::{self, PkceVerifier, TokenSet};
//!
//! // 1. Begin: keep `state` and `verifier` server-side (the Vault seals them).
//! let verifier = PkceVerifier::generate()?;
//! let state = oauth::new_state()?;
//! let url = oauth::authorization_url(
//!     "https://provider.example/oauth/authorize",
//!     "my-client",
//!     "https://app.example/oauth/callback",
//!     &["repo:read"],
//!     &state,
//!     &verifier.challenge(),
//! )?;
//! assert!(url.contains("code_challenge_method=S256"));
//!
//! // 2. Callback: check `state`, then post this body to the token endpoint.
//! oauth::check_state_format(&state)?;
//! let body = oauth::token_request_form(
//!     "code-from-callback",
//!     "https://app.example/oauth/callback",
//!     "my-client",
//!     &verifier,
//! )?;
//! assert!(body.expose_secret().starts_with("grant_type=authorization_code&"));
//!
//! // 3. Parse the response; seal `to_secret_json()` for storage.
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//! let tokens = TokenSet::from_token_response(
//!     br#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#,
//!     now,
//! )?;
//! assert!(!tokens.needs_refresh(now));
//! # Ok(()) }
//! ```

mod json;
mod pkce;
mod request;
mod state;
mod token_set;
mod uri;

pub use pkce::{MAX_VERIFIER_LEN, METHOD, MIN_VERIFIER_LEN, PkceVerifier};
pub use request::{authorization_url, refresh_request_form, token_request_form};
pub use state::{check_state_format, new_state};
pub use token_set::{
    MAX_EXPIRES_IN_SECS, MAX_TOKEN_RESPONSE_LEN, REFRESH_BUFFER, TOKEN_SET_VERSION, TokenSet,
};
pub(crate) use uri::{check_url_chars, check_web_redirect_uri, check_web_url};

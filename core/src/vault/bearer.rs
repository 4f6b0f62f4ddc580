//! One call for whatever a client presents: an API token, an agent-session
//! token or a JWT access token, with or without the `Bearer` scheme, told
//! apart by its shape and the configured prefixes before storage is touched.
//! The rules are on [`parse_bearer`].

use std::fmt;

use crate::error::{Error, Result, TokenRejection};
use crate::token::TokenFormat;
use crate::vault::{Caller, Vault};

/// The longest bearer value accepted, in bytes: the scheme, its spaces and
/// the longest JWT access token ([`crate::jwt::MAX_TOKEN_LEN`]), with room
/// to spare. Longer values are refused before anything else is read.
///
/// ```
/// use secrets_core::vault::{MAX_BEARER_LEN, TokenPrefixes, parse_bearer};
/// use secrets_core::{Error, error::TokenRejection};
///
/// let huge = format!("Bearer scp_{}", "a".repeat(MAX_BEARER_LEN));
/// assert!(matches!(
///     parse_bearer(&huge, &TokenPrefixes::default()),
///     Err(Error::InvalidToken { reason: TokenRejection::TooLarge })
/// ));
/// ```
pub const MAX_BEARER_LEN: usize = crate::jwt::MAX_TOKEN_LEN + 64;

/// The scheme of RFC 6750, matched without regard to case.
const SCHEME: &[u8] = b"bearer";

/// The error of a refused bearer value.
fn bearer_rejected(reason: TokenRejection) -> Error {
    Error::InvalidToken { reason }
}

/// The token prefixes a [`Vault`] was configured with: API, agent and
/// refresh tokens, three different prefixes. `Default` is the Vault's
/// default (`scp`, `sca`, `scr`).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::vault::TokenPrefixes;
///
/// let prefixes = TokenPrefixes::new("acme", "acmeagent", "acmeauth")?;
/// assert_eq!(prefixes.api(), "acme");
/// assert!(TokenPrefixes::new("acme", "acme", "acmer").is_err());
/// assert_eq!(TokenPrefixes::default().agent(), "sca");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenPrefixes {
    api: TokenFormat,
    agent: TokenFormat,
    refresh: TokenFormat,
}

impl Default for TokenPrefixes {
    fn default() -> Self {
        Self {
            api: TokenFormat::api(),
            agent: TokenFormat::agent(),
            refresh: TokenFormat::refresh(),
        }
    }
}

impl TokenPrefixes {
    /// The prefixes of API, agent and refresh tokens, each as
    /// [`TokenFormat::new`] accepts it, all three different.
    ///
    /// ```
    /// use secrets_core::vault::TokenPrefixes;
    ///
    /// assert!(TokenPrefixes::new("sc", "sca", "scr").is_ok());
    /// assert!(TokenPrefixes::new("scp", "SCA", "scr").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: field `prefix` for a prefix
    /// [`TokenFormat::new`] refuses, field `token prefixes` when two are the
    /// same.
    pub fn new(api: &str, agent: &str, refresh: &str) -> Result<Self> {
        let prefixes = Self {
            api: TokenFormat::new(api)?,
            agent: TokenFormat::new(agent)?,
            refresh: TokenFormat::new(refresh)?,
        };
        if api == agent || api == refresh || agent == refresh {
            return Err(Error::invalid(
                "token prefixes",
                "API, agent and refresh tokens need three different prefixes",
            ));
        }
        Ok(prefixes)
    }

    /// The API tokens' prefix (`scp` by default).
    ///
    /// ```
    /// assert_eq!(secrets_core::vault::TokenPrefixes::default().api(), "scp");
    /// ```
    #[must_use]
    pub fn api(&self) -> &str {
        self.api.prefix()
    }

    /// The agent-session tokens' prefix (`sca` by default).
    ///
    /// ```
    /// assert_eq!(secrets_core::vault::TokenPrefixes::default().agent(), "sca");
    /// ```
    #[must_use]
    pub fn agent(&self) -> &str {
        self.agent.prefix()
    }

    /// The refresh tokens' prefix (`scr` by default).
    ///
    /// ```
    /// assert_eq!(secrets_core::vault::TokenPrefixes::default().refresh(), "scr");
    /// ```
    #[must_use]
    pub fn refresh(&self) -> &str {
        self.refresh.prefix()
    }

    /// The three formats, API, agent and refresh: what
    /// [`token::scan_all`](crate::token::scan_all) needs to find this
    /// Vault's leaked tokens in a log.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::token::{self, TokenFormat};
    /// use secrets_core::vault::TokenPrefixes;
    ///
    /// let prefixes = TokenPrefixes::default();
    /// let leaked = TokenFormat::agent().generate()?;
    /// let log = format!("curl -H 'Authorization: Bearer {}'", leaked.expose_secret());
    /// let found = token::scan_all(&log, &prefixes.formats());
    /// assert_eq!(found[0].prefix(), "sca");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn formats(&self) -> [&TokenFormat; 3] {
        [&self.api, &self.agent, &self.refresh]
    }
}

/// Which kind of credential a bearer value holds.
///
/// ```
/// use secrets_core::vault::BearerKind;
///
/// assert_eq!(BearerKind::AccessToken.as_str(), "access_token");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum BearerKind {
    /// An API token (the API prefix).
    ApiToken,
    /// An agent-session token (the agent prefix).
    AgentToken,
    /// A JWT access token (a compact JWS: it holds `.`).
    AccessToken,
}

impl BearerKind {
    /// `api_token`, `agent_token` or `access_token`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiToken => "api_token",
            Self::AgentToken => "agent_token",
            Self::AccessToken => "access_token",
        }
    }
}

/// A bearer value that [`parse_bearer`] routed: its kind, and the
/// credential without the scheme. A credential is secret: `Debug` shows
/// only the kind.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::token::TokenFormat;
/// use secrets_core::vault::{BearerKind, TokenPrefixes, parse_bearer};
///
/// let token = TokenFormat::api().generate()?;
/// let header = format!("Bearer {}", token.expose_secret());
/// let bearer = parse_bearer(&header, &TokenPrefixes::default())?;
/// assert_eq!(bearer.kind(), BearerKind::ApiToken);
/// assert_eq!(bearer.expose_secret(), token.expose_secret());
/// assert!(!format!("{bearer:?}").contains(token.expose_secret()));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bearer<'a> {
    kind: BearerKind,
    credential: &'a str,
}

impl<'a> Bearer<'a> {
    /// Which authenticator it goes to.
    #[must_use]
    pub fn kind(&self) -> BearerKind {
        self.kind
    }

    /// The credential itself, without the scheme: a secret.
    #[must_use]
    pub fn expose_secret(&self) -> &'a str {
        self.credential
    }
}

impl fmt::Debug for Bearer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer")
            .field("kind", &self.kind)
            .field("credential", &format_args!("[REDACTED]"))
            .finish()
    }
}

/// Parses and routes a bearer value by the rules below, without any I/O:
/// pure, never panics, linear in the length of `value` (and at most
/// [`MAX_BEARER_LEN`] bytes are read).
///
/// # What a bearer value may be
///
/// ```text
/// value      = [ scheme 1*SP ] credential     ; at most MAX_BEARER_LEN bytes
/// scheme     = "Bearer"                        ; any case: "bearer", "BEARER"
/// credential = 1*( ALPHA / DIGIT / "_" / "-" / "." )
/// ```
///
/// - **Size first.** A value over [`MAX_BEARER_LEN`] bytes is refused
///   (`too_large`) before any other byte is read, and so before anything
///   is hashed or looked up.
/// - **The scheme** is optional, so the same call serves an
///   `Authorization` header and a token taken from elsewhere (a CLI
///   argument, an `X-Api-Key` header). It is matched without regard to
///   case and must be followed by one or more spaces (`1*SP`), as RFC 7235
///   section 2.1 writes `credentials = auth-scheme [ 1*SP ( token68 / ... ) ]`
///   and RFC 6750 section 2.1 reads it for `Bearer`. A tab is not a space
///   there. Only one scheme is removed: `Bearer Bearer x` is refused.
/// - **Nothing else is trimmed.** An HTTP server has already removed the
///   whitespace around a field value (RFC 9110 section 5.5); whitespace
///   left anywhere else, a control character (NUL, CR, LF), non-ASCII
///   text, an empty credential or any character none of the three formats
///   uses (the credential alphabet is the base62 of tokens with `_`, and
///   the base64url of JWTs with `.`: a subset of RFC 6750's `b64token`) is
///   refused as `malformed`.
/// - **Routing.** A credential with a `.` is a JWT access token (a compact
///   JWS; API and agent tokens never hold a `.`), validated by
///   [`Vault::authenticate_access_token`]. Otherwise its text before the
///   first `_` is its prefix: the API prefix routes to
///   [`Vault::authenticate_api_token`], the agent prefix to
///   [`Vault::authenticate_agent`]. Prefixes never contain `_`, so one
///   prefix that begins another (`sc` and `sca`) routes unambiguously.
/// - **A refresh token is not a bearer credential** (RFC 6749 section
///   1.5: it is only ever sent to the token endpoint): its prefix is
///   refused as `wrong_prefix`, before storage, so presenting one neither
///   spends nor revokes it. Trade it at [`Vault::refresh`].
/// - Any other prefix is refused as `wrong_prefix` when the credential has
///   a token's shape, `malformed` when it has not.
///
/// Routing looks only at the prefix, which is not secret; the work after
/// it is the chosen authenticator's own, so a bearer value costs what that
/// authenticator costs, no more.
///
/// It refuses only what no authenticator could accept; a routed credential
/// is checked by its authenticator ([`Vault::authenticate_bearer`] does
/// both).
///
/// ```
/// use secrets_core::vault::{BearerKind, TokenPrefixes, parse_bearer};
/// use secrets_core::{Error, error::TokenRejection};
///
/// let p = TokenPrefixes::default();
/// let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
/// assert_eq!(parse_bearer(&format!("bearer  {jwt}"), &p).unwrap().kind(), BearerKind::AccessToken);
/// let refused = |v: &str| match parse_bearer(v, &p) {
///     Err(Error::InvalidToken { reason }) => reason,
///     other => panic!("{other:?}"),
/// };
/// assert_eq!(refused(&format!("Bearer Bearer {jwt}")), TokenRejection::Malformed);
/// assert_eq!(refused(&format!("Bearer\t{jwt}")), TokenRejection::Malformed);
/// assert_eq!(refused(&format!(" {jwt}")), TokenRejection::Malformed);
/// assert_eq!(refused("Bearer "), TokenRejection::Malformed);
/// assert_eq!(refused("scr_0123456789012345678901234567890123456"), TokenRejection::WrongPrefix);
/// ```
///
/// # Errors
///
/// [`Error::InvalidToken`], never holding the value, with reason
/// `too_large` (over [`MAX_BEARER_LEN`] bytes), `malformed` (empty,
/// whitespace, control or non-ASCII characters, a second scheme, a
/// character outside the credential alphabet, no prefix) or `wrong_prefix`
/// (a refresh token, or a token of a prefix this Vault does not issue).
pub fn parse_bearer<'a>(value: &'a str, prefixes: &TokenPrefixes) -> Result<Bearer<'a>> {
    if value.len() > MAX_BEARER_LEN {
        return Err(bearer_rejected(TokenRejection::TooLarge));
    }
    let credential = strip_scheme(value);
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if credential.is_empty() || !credential.bytes().all(alphabet) {
        return Err(bearer_rejected(TokenRejection::Malformed));
    }
    let kind = if credential.contains('.') {
        BearerKind::AccessToken
    } else {
        let prefix = credential.split_once('_').map_or("", |(p, _)| p);
        if prefix == prefixes.api() {
            BearerKind::ApiToken
        } else if prefix == prefixes.agent() {
            BearerKind::AgentToken
        } else if prefix == prefixes.refresh() {
            return Err(bearer_rejected(TokenRejection::WrongPrefix));
        } else {
            // Not one of ours: the API format says whether it is a token of
            // another prefix (`wrong prefix`) or not a token (`malformed`).
            // It cannot accept it, its prefix differs.
            return Err(prefixes
                .api
                .parse(credential)
                .err()
                .unwrap_or(bearer_rejected(TokenRejection::WrongPrefix)));
        }
    };
    Ok(Bearer { kind, credential })
}

/// `value` without a leading `Bearer` scheme (any case) and the spaces
/// after it; `value` itself when it does not start with the scheme and a
/// space.
fn strip_scheme(value: &str) -> &str {
    let bytes = value.as_bytes();
    let has_scheme = bytes
        .get(..SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
        && bytes.get(SCHEME.len()) == Some(&b' ');
    if !has_scheme {
        return value;
    }
    // The scheme is ASCII, so `SCHEME.len()` is a character boundary.
    value
        .get(SCHEME.len()..)
        .unwrap_or_default()
        .trim_start_matches(' ')
}

impl Vault {
    /// Authenticates whatever a client presents as a bearer credential: an
    /// API token, an agent-session token or a JWT access token, with or
    /// without the `Bearer ` scheme (an `Authorization` header's value as
    /// it comes), routed by [`parse_bearer`] with this Vault's
    /// [`token_prefixes`](Vault::token_prefixes), then checked by the
    /// authenticator of its kind: [`Vault::authenticate_api_token`],
    /// [`Vault::authenticate_agent`] or
    /// [`Vault::authenticate_access_token`], with their costs, their audit
    /// of refused credentials, and their errors.
    ///
    /// The caller is in the credential's own tenant: a host that serves
    /// tenants by route or host name compares [`Caller::tenant`] with the
    /// one it expects (every operation runs in the caller's tenant
    /// whatever the host compares).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::MemoryStore;
    /// use secrets_core::vault::{Vault, VaultConfig};
    /// use secrets_core::{Error, SecretString, SystemClock, TenantId, error::TokenRejection};
    ///
    /// let mut config = VaultConfig::default();
    /// config.password_cost = 10;
    /// let vault = Vault::new(
    ///     Arc::new(MemoryStore::new()),
    ///     Arc::new(KeyRing::new(MasterKey::generate()?)),
    ///     Arc::new(SystemClock),
    ///     config,
    /// )
    /// .await?;
    /// let (tenant, pw) = (TenantId::DEFAULT, SecretString::from("correct horse battery"));
    /// let ada_id = vault.bootstrap(tenant, "acme", "ada@example.com", &pw, None).await?;
    /// let session = vault.login(tenant, "ada@example.com", &pw, None).await?;
    ///
    /// // The header as it came, whatever it holds.
    /// let header = format!("Bearer {}", session.access_token.expose_secret());
    /// let ada = vault.authenticate_bearer(&header, Some("192.0.2.1")).await?;
    /// let minted = vault.mint_api_token(&ada, ada_id, "ci", &["apps:read"], None).await?;
    /// let ci = vault.authenticate_bearer(minted.token.expose_secret(), None).await?;
    /// assert_eq!(ci.user(), Some(ada_id));
    ///
    /// // A refresh token is not a bearer credential.
    /// let refused = vault.authenticate_bearer(session.refresh_token.expose_secret(), None).await;
    /// assert!(matches!(refused, Err(Error::InvalidToken { reason: TokenRejection::WrongPrefix })));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`], never holding the value: as
    /// [`parse_bearer`] (`too_large`, `malformed`, `wrong_prefix`, none of
    /// them audited: no tenant is known yet), then as the authenticator of
    /// the credential's kind (`bad_checksum`, `unknown`, `revoked`,
    /// `expired`, `disabled`, a JWT's reasons...); the store's errors.
    pub async fn authenticate_bearer(&self, value: &str, source: Option<&str>) -> Result<Caller> {
        let bearer = parse_bearer(value, &self.inner.prefixes)?;
        let credential = bearer.expose_secret();
        match bearer.kind() {
            BearerKind::ApiToken => self.authenticate_api_token(credential, source).await,
            BearerKind::AgentToken => self.authenticate_agent(credential, source).await,
            BearerKind::AccessToken => self.authenticate_access_token(credential, source).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(value: &str) -> Option<TokenRejection> {
        match parse_bearer(value, &TokenPrefixes::default()) {
            Ok(_) => None,
            Err(Error::InvalidToken { reason }) => Some(reason),
            Err(e) => panic!("{e:?}"),
        }
    }

    fn kind(value: &str) -> BearerKind {
        parse_bearer(value, &TokenPrefixes::default())
            .unwrap()
            .kind()
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

    #[test]
    fn the_scheme_is_optional_case_insensitive_and_followed_by_spaces() {
        let api = TokenFormat::api().generate().unwrap();
        let api = api.expose_secret();
        for v in [
            api.to_owned(),
            format!("Bearer {api}"),
            format!("bearer {api}"),
            format!("BEARER {api}"),
            format!("bEaReR    {api}"),
        ] {
            let b = parse_bearer(&v, &TokenPrefixes::default()).unwrap();
            assert_eq!(
                (b.kind(), b.expose_secret()),
                (BearerKind::ApiToken, api),
                "{v}"
            );
        }
        for v in [
            format!("Bearer{api}"),
            format!("Bearer\t{api}"),
            format!("Bearer \t{api}"),
            format!("Bearer {api} "),
            format!(" Bearer {api}"),
            format!("Bearer Bearer {api}"),
            format!("Basic {api}"),
            format!("Bearer\u{a0}{api}"),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            "Bearer      ".to_owned(),
            String::new(),
        ] {
            assert_eq!(reason(&v), Some(TokenRejection::Malformed), "{v:?}");
        }
    }

    #[test]
    fn routes_by_shape_and_prefix() {
        let agent = TokenFormat::agent().generate().unwrap();
        let refresh = TokenFormat::refresh().generate().unwrap();
        let other = TokenFormat::new("ghp").unwrap().generate().unwrap();
        assert_eq!(kind(JWT), BearerKind::AccessToken);
        assert_eq!(kind(&format!("Bearer {JWT}")), BearerKind::AccessToken);
        assert_eq!(kind(agent.expose_secret()), BearerKind::AgentToken);
        assert_eq!(
            reason(refresh.expose_secret()),
            Some(TokenRejection::WrongPrefix)
        );
        assert_eq!(
            reason(other.expose_secret()),
            Some(TokenRejection::WrongPrefix)
        );
        for v in ["scp", "nounderscore", "SCP_x", "_", "x_y"] {
            assert_eq!(reason(v), Some(TokenRejection::Malformed), "{v}");
        }
        // A prefix that begins another routes by the whole prefix.
        let p = TokenPrefixes::new("sc", "sca", "scr").unwrap();
        let agent = TokenFormat::new("sca").unwrap().generate().unwrap();
        let api = TokenFormat::new("sc").unwrap().generate().unwrap();
        let route = |v: &str| parse_bearer(v, &p).unwrap().kind();
        assert_eq!(route(agent.expose_secret()), BearerKind::AgentToken);
        assert_eq!(route(api.expose_secret()), BearerKind::ApiToken);
    }

    #[test]
    fn refuses_what_no_credential_holds() {
        for v in [
            "scp_abc\0def",
            "scp_abc\r\ndef",
            "scp_abcé",
            "scp_abc+def",
            "scp_abc/def",
            "eyJ.eyJ.abc=",
            "scp_abc def",
        ] {
            assert_eq!(reason(v), Some(TokenRejection::Malformed), "{v:?}");
        }
    }

    #[test]
    fn size_is_checked_first() {
        let at_limit = format!("Bearer {}", "a".repeat(MAX_BEARER_LEN - 7));
        assert_eq!(at_limit.len(), MAX_BEARER_LEN);
        assert_eq!(reason(&at_limit), Some(TokenRejection::Malformed));
        // One byte more is too large, whatever it holds.
        for filler in ["a", "\0", " ", "é"] {
            let v = format!("Bearer {}", filler.repeat(MAX_BEARER_LEN));
            assert_eq!(reason(&v), Some(TokenRejection::TooLarge), "{filler:?}");
        }
        let one_over = format!("{at_limit}a");
        assert_eq!(reason(&one_over), Some(TokenRejection::TooLarge));
    }

    #[test]
    fn debug_hides_the_credential() {
        let b = parse_bearer(JWT, &TokenPrefixes::default()).unwrap();
        let shown = format!("{b:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert!(shown.contains("AccessToken"), "{shown}");
    }

    /// The vectors of docs/FORMATS.md ("Bearer values"), computed by an
    /// independent implementation (`core/tests/data/make_bearer_vectors.py`).
    #[test]
    fn vectors() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/bearer_vectors.json")).unwrap();
        assert_eq!(doc["max_bearer_len"], MAX_BEARER_LEN);
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() > 90);
        for case in cases {
            let mut value = case["value"].as_str().unwrap().to_owned();
            if let Some(pad) = case.get("pad") {
                let times = usize::try_from(pad["times"].as_u64().unwrap()).unwrap();
                value.push_str(&pad["char"].as_str().unwrap().repeat(times));
            }
            let p: Vec<&str> = case["prefixes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let prefixes = TokenPrefixes::new(p[0], p[1], p[2]).unwrap();
            let got = match parse_bearer(&value, &prefixes) {
                Ok(b) => serde_json::json!({ "kind": b.kind().as_str() }),
                Err(Error::InvalidToken { reason }) => {
                    serde_json::json!({ "reject": reason.code() })
                }
                Err(e) => panic!("{e:?}"),
            };
            assert_eq!(got, case["expect"], "{:?}", case["value"]);
        }
    }

    proptest! {
        /// Never a panic, and a routed credential is a suffix of the value
        /// from the alphabet, whatever the input.
        #[test]
        fn never_panics(value in ".{0,64}", raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            for v in [value, String::from_utf8_lossy(&raw).into_owned()] {
                let p = TokenPrefixes::default();
                if let Ok(b) = parse_bearer(&v, &p) {
                    prop_assert!(v.ends_with(b.expose_secret()));
                    prop_assert!(!b.expose_secret().is_empty());
                    prop_assert!(b.expose_secret().bytes().all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c)));
                }
            }
        }

        /// Any scheme spelling with any number of spaces gives the same
        /// credential.
        #[test]
        fn scheme_spellings(mask in 0u8..64, spaces in 1usize..8) {
            let scheme: String = "bearer"
                .chars()
                .enumerate()
                .map(|(i, c)| if mask & (1 << i) != 0 { c.to_ascii_uppercase() } else { c })
                .collect();
            let v = format!("{scheme}{}{JWT}", " ".repeat(spaces));
            let b = parse_bearer(&v, &TokenPrefixes::default()).unwrap();
            prop_assert_eq!(b.expose_secret(), JWT);
        }
    }
}

//! The bearer extractor: `Authorization: Bearer` to a core [`Caller`] through
//! [`Vault::authenticate_bearer`], with the rejection RFC 6750 asks for.

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode, header};
use secrets_core::Error;
use secrets_core::error::{ErrorKind, TokenRejection};
use secrets_core::vault::{Caller, Vault};

use crate::problem::{problem, problem_with};

/// Where the audit source of an authenticated request comes from.
#[derive(Clone, Debug)]
enum Source {
    /// Not recorded.
    Off,
    /// The TCP peer (axum's [`ConnectInfo<SocketAddr>`]).
    Peer,
    /// The last address in a header a trusted proxy sets, else the peer.
    Proxy(HeaderName),
}

/// How the extractors reach the [`Vault`], and where the audit source of a
/// request comes from. Put it in the router's state, or reach it from your
/// own state with [`FromRef`] (`#[derive(FromRef)]` or a hand-written impl).
///
/// By default no source is recorded. [`with_peer_address`](Self::with_peer_address)
/// records the TCP peer's address, which axum provides when the app is
/// served with `into_make_service_with_connect_info::<SocketAddr>()`;
/// without it the source is simply not recorded.
/// [`with_trusted_proxy_header`](Self::with_trusted_proxy_header) reads the
/// client's address from a header that a reverse proxy in front of the
/// service sets (`X-Forwarded-For`, `X-Real-IP`): the **last** address of
/// the header, the one the proxy itself appended, is taken, since every
/// address before it is whatever the client wrote. Only turn it on behind
/// a proxy that sets or appends that header on every request: a client
/// that reaches the service directly could write anything there (it is
/// only ever an audit record, never an authorization input). A value that
/// is not an IP address is ignored and the peer address used instead.
///
/// ```
/// # async fn doc(vault: secrets_core::vault::Vault) -> Result<(), secrets_core::Error> {
/// use secrets_core_axum::Authenticator;
///
/// let auth = Authenticator::new(vault)
///     .with_peer_address()
///     .with_trusted_proxy_header("x-forwarded-for")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Authenticator {
    vault: Vault,
    source: Source,
}

impl Authenticator {
    /// Authenticates against `vault`, recording no source address.
    #[must_use]
    pub fn new(vault: Vault) -> Self {
        Self {
            vault,
            source: Source::Off,
        }
    }

    /// Records the TCP peer's address as the audit source (when the app is
    /// served with connect info).
    #[must_use]
    pub fn with_peer_address(mut self) -> Self {
        if matches!(self.source, Source::Off) {
            self.source = Source::Peer;
        }
        self
    }

    /// Records the last address of `header`, set by a trusted reverse
    /// proxy, as the audit source; the peer address when the header is
    /// absent or not an address.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `header` is not a header name.
    pub fn with_trusted_proxy_header(mut self, header: &str) -> Result<Self, Error> {
        let name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| Error::invalid("header", "is not a valid header name"))?;
        self.source = Source::Proxy(name);
        Ok(self)
    }

    /// The Vault.
    #[must_use]
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The audit source of a request, as configured.
    pub(crate) fn source_of(&self, parts: &Parts) -> Option<String> {
        let peer = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
        };
        match &self.source {
            Source::Off => None,
            Source::Peer => peer(),
            Source::Proxy(name) => parts
                .headers
                .get_all(name)
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
                .map(|ip| ip.to_string())
                .or_else(peer),
        }
    }

    /// Authenticates the request's `Authorization` header; `Ok(None)` when
    /// there is none.
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Caller>, AuthRejection> {
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            // Two credentials: neither is taken.
            return Err(AuthRejection::from(malformed()));
        }
        // Not visible ASCII: not a credential the core could accept, and
        // the core's own refusal for it.
        let value = value.to_str().map_err(|_| malformed())?;
        let source = self.source_of(parts);
        self.vault
            .authenticate_bearer(value, source.as_deref())
            .await
            .map(Some)
            .map_err(AuthRejection::from)
    }
}

fn malformed() -> Error {
    Error::InvalidToken {
        reason: TokenRejection::Malformed,
    }
}

impl FromRef<Authenticator> for Vault {
    fn from_ref(auth: &Authenticator) -> Self {
        auth.vault.clone()
    }
}

/// The extractor of an authenticated [`Caller`]: a handler that takes it
/// runs only for a request whose `Authorization: Bearer` credential (an API
/// token, an agent-session token or an access token) the Vault accepted.
///
/// A newtype because `Caller` is the core's type and the extractor traits
/// are axum's; it dereferences to the `Caller`, and
/// [`into_inner`](Self::into_inner) gives it up. `Option<Authenticated>` is
/// the variant for routes open to anonymous callers: `None` when no
/// `Authorization` header was sent, but still a 401 for a credential that
/// was sent and refused (a bad token never silently becomes anonymous).
///
/// The state must give an [`Authenticator`] (`Authenticator: FromRef<S>`).
/// Refusals are [`AuthRejection`]s.
///
/// ```
/// use axum::{Router, routing::get};
/// use secrets_core_axum::{ApiError, Authenticated, Authenticator};
///
/// async fn whoami(caller: Authenticated) -> String {
///     format!("{:?}", caller.actor())
/// }
///
/// async fn hello(caller: Option<Authenticated>) -> &'static str {
///     if caller.is_some() { "hello again" } else { "hello, stranger" }
/// }
///
/// fn app(auth: Authenticator) -> Router {
///     Router::new()
///         .route("/whoami", get(whoami))
///         .route("/hello", get(hello))
///         .with_state(auth)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Authenticated(pub Caller);

impl Authenticated {
    /// The caller.
    #[must_use]
    pub fn into_inner(self) -> Caller {
        self.0
    }
}

impl Deref for Authenticated {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        match auth.authenticate(parts).await? {
            Some(caller) => Ok(Self(caller)),
            None => Err(AuthRejection::Missing),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        Ok(auth.authenticate(parts).await?.map(Self))
    }
}

/// Why [`Authenticated`] refused a request, and the response that says so.
///
/// | case | status | `WWW-Authenticate` | body `code` |
/// |---|---:|---|---|
/// | no `Authorization` header | 401 | `Bearer` | none |
/// | a credential the Vault refused | 401 | `Bearer error="invalid_token"` | `invalid_token` |
/// | any other failure (storage, ...) | the kind's | none | the kind's |
///
/// RFC 6750 section 3.1: a request without credentials gets the challenge
/// without an error code; a refused token gets `invalid_token`. The body is
/// a problem document as [`ApiError`](crate::ApiError) writes it; the
/// reason a token was refused is in the Vault's audit log, not the
/// response.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No `Authorization` header.
    Missing,
    /// The Vault refused the credential, or failed.
    Refused(Error),
}

impl From<Error> for AuthRejection {
    fn from(e: Error) -> Self {
        Self::Refused(e)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Missing => {
                let mut r = problem_with(StatusCode::UNAUTHORIZED, None);
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Self::Refused(e) => {
                let kind = e.kind();
                let mut r = problem(kind);
                if kind == ErrorKind::InvalidToken {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                    );
                }
                r
            }
        }
    }
}

/// The request's audit source, as the [`Authenticator`] is configured to
/// find it (the peer address, a trusted proxy header, or none), for the
/// Vault calls that take one without a caller: [`Vault::login`],
/// [`Vault::refresh`], [`Vault::logout`]. Never refuses a request.
///
/// ```
/// use axum::extract::State;
/// use secrets_core::vault::Vault;
/// use secrets_core_axum::AuditSource;
///
/// async fn logout(State(vault): State<Vault>, AuditSource(source): AuditSource, token: String) {
///     let _ = vault.logout(&token, source.as_deref()).await;
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditSource(pub Option<String>);

impl<S> FromRequestParts<S> for AuditSource
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Authenticator::from_ref(state).source_of(parts)))
    }
}

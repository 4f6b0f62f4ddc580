//! One tower layer for the security headers and CORS decisions of the core's
//! [`headers`](secrets_core::headers) module.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use secrets_core::Error;
use secrets_core::headers::{Cors, Preflight, SecurityHeaders};
use tower::{Layer, Service};

/// A response extension that marks a response as carrying a token or a
/// secret: [`SecurityLayer`] then adds `Cache-Control: no-store` and
/// `Pragma: no-cache` ([`SecurityHeaders::no_store`]). Set it with
/// [`TokenResponse`], or insert it into a response's extensions yourself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CarriesToken;

/// A response that carries a token or a secret (a login, a refresh, a
/// minted API token, an injected environment): the inner response, marked
/// with [`CarriesToken`] so that [`SecurityLayer`] forbids caching it.
///
/// ```
/// use axum::response::IntoResponse;
/// use secrets_core_axum::{CarriesToken, TokenResponse};
///
/// let r = TokenResponse("{\"access_token\":\"...\"}").into_response();
/// assert!(r.extensions().get::<CarriesToken>().is_some());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TokenResponse<T>(pub T);

impl<T: IntoResponse> IntoResponse for TokenResponse<T> {
    fn into_response(self) -> Response {
        let mut r = self.0.into_response();
        r.extensions_mut().insert(CarriesToken);
        r
    }
}

type Pairs = Vec<(HeaderName, HeaderValue)>;

/// The precomputed header sets and the CORS policy.
#[derive(Debug)]
struct Config {
    /// Sent on every response.
    plain: Pairs,
    /// Sent on responses marked [`CarriesToken`] (`plain` plus no-store).
    token: Pairs,
    cors: Option<Cors>,
}

/// A tower [`Layer`] that puts the core's security headers on every
/// response, errors included, and applies the core's CORS decisions.
///
/// - **Security headers**: those of the [`SecurityHeaders`] given (its
///   defaults: HSTS, CSP, `X-Frame-Options`, `X-Content-Type-Options`,
///   `Referrer-Policy`, `Cross-Origin-Opener-Policy`), replacing any a
///   handler set, on every response the inner service returns and on the
///   preflight answers this layer writes itself.
/// - **Token responses**: a response with the [`CarriesToken`] extension
///   ([`TokenResponse`]) also gets `Cache-Control: no-store` and
///   `Pragma: no-cache`.
/// - **CORS** (when a [`Cors`] is given): an `OPTIONS` request with an
///   `Access-Control-Request-Method` header is a preflight, answered here,
///   never passed on: **204 No Content** with the granted headers when
///   [`Cors::preflight`] allows it, **403 Forbidden** with no CORS header
///   (only `Vary`) when it refuses. Every other request goes to the inner
///   service, and its response gets [`Cors::simple`]'s headers for the
///   request's `Origin`: the allow headers for an allowed origin, nothing
///   but `Vary: Origin` for a refused or absent one. `Vary` is appended to
///   whatever `Vary` the handler set, never replacing it.
///
/// Every decision is the core's; this layer only copies headers.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use axum::{Router, routing::get};
/// use secrets_core::headers::{Cors, SecurityHeaders};
/// use secrets_core_axum::SecurityLayer;
///
/// let cors = Cors::new(&["https://app.example.com"])?
///     .allow_credentials(true)
///     .allowed_headers(&["Authorization", "Content-Type"])?;
/// let app: Router = Router::new()
///     .route("/", get(|| async { "ok" }))
///     .layer(SecurityLayer::new(SecurityHeaders::new(), Some(cors))?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SecurityLayer {
    config: Arc<Config>,
}

impl SecurityLayer {
    /// The layer for `headers` and, when given, `cors`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if a header of the set is not a valid HTTP
    /// header (the core checks the values it is given, so this does not
    /// happen with its setters).
    pub fn new(headers: SecurityHeaders, cors: Option<Cors>) -> Result<Self, Error> {
        let token = pairs(&headers.clone().no_store().headers())?;
        let plain = pairs(&headers.headers())?;
        Ok(Self {
            config: Arc::new(Config { plain, token, cors }),
        })
    }
}

/// `(name, value)` strings as header pairs.
fn pairs(list: &[(String, String)]) -> Result<Pairs, Error> {
    list.iter()
        .map(|(n, v)| {
            let name = HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| Error::invalid("headers", "holds an invalid header name"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| Error::invalid("headers", "holds an invalid header value"))?;
            Ok((name, value))
        })
        .collect()
}

/// Copies the core's `(name, value)` pairs onto `headers`: `Vary` is
/// appended, every other name replaced. A pair that is not a valid header
/// is skipped (the core never produces one).
fn apply(headers: &mut HeaderMap, list: Vec<(String, String)>) {
    for (name, value) in list {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) else {
            continue;
        };
        if name == header::VARY {
            headers.append(name, value);
        } else {
            headers.insert(name, value);
        }
    }
}

impl<S> Layer<S> for SecurityLayer {
    type Service = SecurityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`SecurityLayer`] wraps around an inner one.
#[derive(Clone, Debug)]
pub struct SecurityService<S> {
    inner: S,
    config: Arc<Config>,
}

/// A header's value as text, `Some("")` when it is not visible ASCII (so
/// that the core refuses it rather than taking it for absent).
fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or_default())
}

impl<S, B> Service<Request<B>> for SecurityService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let headers = req.headers();
        let origin = text(headers, &header::ORIGIN);
        if let Some(cors) = &self.config.cors
            && req.method() == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            let method = text(headers, &header::ACCESS_CONTROL_REQUEST_METHOD);
            let asked = text(headers, &header::ACCESS_CONTROL_REQUEST_HEADERS);
            let answer = cors.preflight(origin, method, asked);
            // The granted headers are moved, not copied; a refusal sends
            // what the core says it sends (`Vary`).
            let (status, list) = match answer {
                Preflight::Allowed(list) => (StatusCode::NO_CONTENT, list),
                refused @ Preflight::Refused(_) => (StatusCode::FORBIDDEN, refused.headers()),
            };
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            apply(response.headers_mut(), list);
            finish(&self.config, &mut response);
            return ResponseFuture {
                state: State::Answered {
                    response: Some(response),
                },
            };
        }
        let cors = self.config.cors.as_ref().map(|c| c.simple(origin));
        ResponseFuture {
            state: State::Inner {
                future: self.inner.call(req),
                config: Arc::clone(&self.config),
                cors,
            },
        }
    }
}

/// Puts the security headers (and no-store for a marked response) on.
fn finish(config: &Config, response: &mut Response) {
    let set = if response.extensions().get::<CarriesToken>().is_some() {
        &config.token
    } else {
        &config.plain
    };
    let headers = response.headers_mut();
    for (name, value) in set {
        headers.insert(name.clone(), value.clone());
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`SecurityService`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    enum State<F> {
        // A preflight, answered without the inner service.
        Answered { response: Option<Response> },
        // The inner service's response, to be completed.
        Inner {
            #[pin]
            future: F,
            config: Arc<Config>,
            cors: Option<Vec<(String, String)>>,
        },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Projected::Answered { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled again after completion: a caller's bug; answer
                // with an empty 500 rather than panic.
                None => Poll::Ready(Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response())),
            },
            Projected::Inner {
                future,
                config,
                cors,
            } => {
                let mut response = match future.poll(cx) {
                    Poll::Ready(Ok(r)) => r,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                if let Some(list) = cors.take() {
                    apply(response.headers_mut(), list);
                }
                finish(config, &mut response);
                Poll::Ready(Ok(response))
            }
        }
    }
}

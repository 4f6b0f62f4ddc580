//! The core's [`Error`] as an HTTP response: RFC 9457 `application/problem+json`
//! from its stable [`ErrorKind`], and nothing else.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use secrets_core::Error;
use secrets_core::error::ErrorKind;

/// The media type of an RFC 9457 problem document.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A core [`Error`] that a handler returns: answers with the status of its
/// [`ErrorKind`] and an RFC 9457 problem document.
///
/// It is a newtype because `Error` is the core's type and `IntoResponse`
/// is axum's: Rust's orphan rule lets only a crate that owns one of them
/// join them, and the core depends on no web framework. `?` converts
/// (`From<Error>`), so a handler returns `Result<_, ApiError>` and uses
/// the Vault's methods as they are.
///
/// The status is [`ErrorKind::http_status`], never re-mapped here: the
/// table lives in the core ([`ErrorKind`] documents it). The body is
///
/// ```json
/// {"type":"about:blank","title":"Unauthorized","status":401,"code":"invalid_token"}
/// ```
///
/// - `type` is `about:blank` and `title` the status's reason phrase, as
///   RFC 9457 section 4.2.1 asks for a problem with no type of its own;
/// - `code` is [`ErrorKind::code`], the stable string clients branch on.
///
/// The error's own message is never sent, not even for a 4xx kind: it can
/// name an id or an action, and a 5xx kind's message (a storage failure, a
/// row that failed its integrity check, a master key that does not match)
/// is for the operator alone. Log the error on the server if you need it
/// (`ApiError::error`). Kinds this crate does not know yet (`ErrorKind` is
/// non-exhaustive) still get their status and code from the core.
///
/// ```
/// use axum::response::IntoResponse;
/// use secrets_core::Error;
/// use secrets_core_axum::ApiError;
///
/// let response = ApiError::from(Error::invalid("region", "must be `eu` or `us`")).into_response();
/// assert_eq!(response.status(), 400);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug)]
pub struct ApiError(pub Error);

impl ApiError {
    /// The error, for the host's logs.
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.0
    }

    /// The error's stable kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.0.kind()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem(self.0.kind())
    }
}

/// The status of `kind`, as the core's table gives it.
pub(crate) fn status_of(kind: ErrorKind) -> StatusCode {
    // Every status in the core's table is a valid one; a kind added later
    // with an out-of-range number would still be a server-side failure.
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The problem document of `kind`.
pub(crate) fn problem(kind: ErrorKind) -> Response {
    problem_with(status_of(kind), Some(kind.code()))
}

/// A problem document of `status`, with `code` when there is one.
pub(crate) fn problem_with(status: StatusCode, code: Option<&str>) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("type".into(), "about:blank".into());
    body.insert(
        "title".into(),
        status.canonical_reason().unwrap_or("Error").into(),
    );
    body.insert("status".into(), status.as_u16().into());
    if let Some(code) = code {
        body.insert("code".into(), code.into());
    }
    let text = serde_json::Value::Object(body).to_string();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        text,
    )
        .into_response()
}

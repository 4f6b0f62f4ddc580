//! Receiving webhooks: an inbound Standard Webhooks or GitHub delivery,
//! verified by the Vault against a registered source, its body byte-exact.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use secrets_core::error::ErrorKind;
use secrets_core::vault::{ReceivedWebhook, Vault};
use secrets_core::{Error, TenantId};

use crate::auth::Authenticator;
use crate::problem::{problem, problem_with};

/// The path parameter [`VerifiedWebhook`] reads the source id from.
const SOURCE_PARAM: &str = "source";

/// What [`VerifiedWebhook`] needs from the state: the [`Authenticator`]
/// (its Vault, and where the audit source comes from) and the tenant whose
/// registered sources deliveries are checked against.
///
/// ```
/// # fn doc(vault: secrets_core::vault::Vault) {
/// use secrets_core::TenantId;
/// use secrets_core_axum::{Authenticator, WebhookReceiver};
///
/// let receiver = WebhookReceiver::new(Authenticator::new(vault), TenantId::DEFAULT);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct WebhookReceiver {
    auth: Authenticator,
    tenant: TenantId,
}

impl WebhookReceiver {
    /// Receives for `tenant`'s sources.
    #[must_use]
    pub fn new(auth: Authenticator, tenant: TenantId) -> Self {
        Self { auth, tenant }
    }
}

/// A delivery the Vault verified ([`Vault::verify_inbound_webhook`]): its
/// id, timestamp and style, and the body exactly as received.
///
/// As an extractor it reads the source id from the route's `{source}`
/// path parameter, every header of the request, and the whole body (up to
/// axum's body limit; the Vault refuses more than 1 MiB), and needs a
/// [`WebhookReceiver`] from the state. A delivery that does not verify,
/// whatever the reason (unknown source, bad or missing signature, stale
/// timestamp, replay, a body it could not read), is refused with the same
/// **401** and `code` `webhook_rejected`: the sender is not authenticated
/// and learns nothing about the configuration. The reason is in the Vault's
/// audit log (`webhook.receive`). A failure of the server (storage) is its
/// own 5xx, as [`ApiError`](crate::ApiError) answers it.
///
/// ```
/// use axum::{Router, routing::post};
/// use secrets_core_axum::{VerifiedWebhook, WebhookReceiver};
///
/// async fn hook(hook: VerifiedWebhook) -> &'static str {
///     let _event: &[u8] = &hook.body; // the signed bytes, as sent
///     "ok"
/// }
///
/// fn app(receiver: WebhookReceiver) -> Router {
///     Router::new().route("/webhooks/{source}", post(hook)).with_state(receiver)
/// }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifiedWebhook {
    /// What the Vault verified.
    pub received: ReceivedWebhook,
    /// The body, byte for byte as the signature covers it.
    pub body: Bytes,
}

/// Why a delivery was not accepted, and the response that says so (see
/// [`VerifiedWebhook`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The delivery did not verify (any client-side reason, the Vault's
    /// error kept for logs), or its body could not be read.
    Refused(Option<Error>),
    /// The server failed (a 5xx kind), or the route has no `{source}`
    /// parameter.
    Failed(Error),
}

impl From<Error> for WebhookRejection {
    fn from(e: Error) -> Self {
        if e.kind().is_client_error() {
            Self::Refused(Some(e))
        } else {
            Self::Failed(e)
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Refused(_) => problem_with(
                StatusCode::UNAUTHORIZED,
                Some(ErrorKind::WebhookRejected.code()),
            ),
            Self::Failed(e) => problem(e.kind()),
        }
    }
}

/// Verifies a delivery to `source` of `tenant`, for hosts that route
/// webhooks their own way (a tenant per host name, a source per header):
/// what the [`VerifiedWebhook`] extractor does after finding the source.
/// `addr` is recorded in the audit log.
///
/// # Errors
///
/// [`WebhookRejection::Refused`] for a delivery that does not verify;
/// [`WebhookRejection::Failed`] when the Vault fails.
pub async fn receive_webhook(
    vault: &Vault,
    tenant: TenantId,
    source: &str,
    headers: &HeaderMap,
    body: Bytes,
    addr: Option<&str>,
) -> Result<VerifiedWebhook, WebhookRejection> {
    // Header values that are not text cannot be a signature, an id or a
    // timestamp: they are left out, and the Vault then refuses the
    // delivery for the header it misses.
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    let received = vault
        .verify_inbound_webhook(tenant, source, &pairs, &body, addr)
        .await?;
    Ok(VerifiedWebhook { received, body })
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    WebhookReceiver: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let receiver = WebhookReceiver::from_ref(state);
        let (mut parts, body) = req.into_parts();
        let source = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .ok()
            .and_then(|params| {
                params
                    .iter()
                    .find(|(name, _)| *name == SOURCE_PARAM)
                    .map(|(_, value)| value.to_owned())
            })
            .ok_or_else(|| {
                WebhookRejection::Failed(Error::Internal {
                    what: "the webhook route has no `{source}` path parameter",
                })
            })?;
        let addr = receiver.auth.source_of(&parts);
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| WebhookRejection::Refused(None))?;
        receive_webhook(
            receiver.auth.vault(),
            receiver.tenant,
            &source,
            &headers,
            body,
            addr.as_deref(),
        )
        .await
    }
}

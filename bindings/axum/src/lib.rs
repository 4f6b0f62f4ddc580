#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod auth;
mod layer;
mod problem;
mod webhook;

pub use auth::{AuditSource, AuthRejection, Authenticated, Authenticator};
pub use layer::{CarriesToken, ResponseFuture, SecurityLayer, SecurityService, TokenResponse};
pub use problem::ApiError;
pub use webhook::{VerifiedWebhook, WebhookReceiver, WebhookRejection, receive_webhook};

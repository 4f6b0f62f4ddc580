//! The message id and timestamp rules, shared by signing and verifying.

use crate::error::WebhookRejection;
use crate::error::{Error, Result};

use super::MAX_ID_LEN;

/// A timestamp at or above this (year 5138) is almost surely milliseconds.
pub(super) const LOOKS_LIKE_MILLIS: i64 = 100_000_000_000;

#[derive(Clone, Copy)]
pub(super) enum IdProblem {
    Empty,
    TooLong,
    Dot,
    Forbidden,
}

impl IdProblem {
    pub(super) fn check(id: &str) -> Result<(), Self> {
        if id.is_empty() {
            Err(Self::Empty)
        } else if id.len() > MAX_ID_LEN {
            Err(Self::TooLong)
        } else if id.contains('.') {
            Err(Self::Dot)
        } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            Err(Self::Forbidden)
        } else {
            Ok(())
        }
    }

    /// For [`sign`](fn@super::sign)'s `msg_id` argument.
    pub(super) fn argument(self) -> Error {
        let reason = match self {
            Self::Empty => "is empty",
            Self::TooLong => "is longer than 255 bytes",
            Self::Dot => {
                "contains a `.`; the signed content is `id.timestamp.payload`, so the specification forbids dots in ids (use `msg_...`, a UUID, ...)"
            }
            Self::Forbidden => "contains whitespace or a control character",
        };
        Error::invalid("msg_id", reason)
    }

    /// For an inbound `webhook-id` header.
    pub(super) fn header(self) -> Error {
        let reason = match self {
            Self::Empty => WebhookRejection::EmptyId,
            Self::TooLong => WebhookRejection::IdTooLong,
            Self::Dot => WebhookRejection::IdWithDot,
            Self::Forbidden => WebhookRejection::IdForbiddenCharacter,
        };
        Error::Webhook { reason }
    }
}

/// A `webhook-timestamp` header: canonical decimal unix seconds.
pub(super) fn parse_timestamp(value: &str) -> Result<i64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(Error::Webhook {
            reason: WebhookRejection::EmptyTimestamp,
        });
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(Error::Webhook {
            reason: WebhookRejection::TimestampNotSeconds,
        });
    }
    if bytes.len() > 1 && bytes.first() == Some(&b'0') {
        return Err(Error::Webhook {
            reason: WebhookRejection::TimestampLeadingZeros,
        });
    }
    value.parse::<i64>().map_err(|_| Error::Webhook {
        reason: WebhookRejection::TimestampOutOfRange,
    })
}

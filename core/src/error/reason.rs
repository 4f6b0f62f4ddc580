//! Typed reasons for refusals: what a host may branch on below the
//! [`ErrorKind`](super::ErrorKind), each with a stable snake_case code and
//! the human text the audit log records.

use std::fmt;

/// Defines a reason enum: variants with their stable code and their text.
macro_rules! reasons {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => ($code:literal, $text:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable snake_case code (never changes once published).
            #[must_use]
            pub const fn code(self) -> &'static str {
                match self { $(Self::$variant => $code,)+ }
            }

            /// The human text: what error messages and audit events say.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

reasons! {
    /// Why a presented token (API token, agent token, JWT access token or
    /// refresh token) was refused. Never carries the token.
    ///
    /// ```
    /// use secrets_core::error::TokenRejection;
    ///
    /// assert_eq!(TokenRejection::BadChecksum.code(), "bad_checksum");
    /// assert_eq!(TokenRejection::BadChecksum.to_string(), "bad checksum");
    /// ```
    pub enum TokenRejection {
        /// Not in the token's format at all.
        Malformed => ("malformed", "malformed"),
        /// The prefix names another kind of token.
        WrongPrefix => ("wrong_prefix", "wrong prefix"),
        /// The checksum does not match (a typo, or not one of ours).
        BadChecksum => ("bad_checksum", "bad checksum"),
        /// Over the size any valid token has.
        TooLarge => ("too_large", "too large"),
        /// Well formed, but no such token is stored.
        Unknown => ("unknown", "unknown"),
        /// Past its expiry.
        Expired => ("expired", "expired"),
        /// Not valid yet (`nbf` in the future).
        NotYetValid => ("not_yet_valid", "not yet valid"),
        /// Revoked, or its owner's credentials were revoked since it was made.
        Revoked => ("revoked", "revoked"),
        /// Its owner is disabled.
        Disabled => ("disabled", "disabled"),
        /// A refresh token presented again after it was rotated: its whole
        /// family was revoked.
        Reused => ("reused", "reused"),
        /// A JWT whose signature does not verify.
        BadSignature => ("bad_signature", "bad signature"),
        /// A JWT signed with an algorithm other than the one pinned.
        AlgorithmNotAllowed => ("algorithm_not_allowed", "algorithm not allowed"),
        /// A JWT whose `typ` is not `at+jwt`.
        WrongType => ("wrong_type", "wrong type"),
        /// A JWT without a `kid`.
        MissingKeyId => ("missing_key_id", "missing key id"),
        /// A JWT whose `kid` names no key of the ring.
        UnknownKeyId => ("unknown_key_id", "unknown key id"),
        /// A JWT with a `crit` header.
        UnsupportedCriticalHeader => ("unsupported_critical_header", "unsupported critical header"),
        /// A JWT from another issuer.
        WrongIssuer => ("wrong_issuer", "wrong issuer"),
        /// A JWT for another audience.
        WrongAudience => ("wrong_audience", "wrong audience"),
        /// A scope this Vault's policy does not know.
        UnknownScope => ("unknown_scope", "unknown scope"),
    }
}

reasons! {
    /// Why an inbound webhook was refused. What the sender may be told:
    /// never a secret, a signature, or the receiver's configuration.
    ///
    /// ```
    /// use secrets_core::error::WebhookRejection;
    ///
    /// assert_eq!(WebhookRejection::TimestampTooOld.code(), "timestamp_too_old");
    /// ```
    pub enum WebhookRejection {
        /// No `webhook-id` header.
        MissingId => ("missing_id", "missing webhook-id header"),
        /// An empty `webhook-id` header.
        EmptyId => ("empty_id", "empty webhook-id header"),
        /// A `webhook-id` over 255 bytes.
        IdTooLong => ("id_too_long", "webhook-id header is longer than 255 bytes"),
        /// A `webhook-id` with a `.` (the signed content would be ambiguous).
        IdWithDot => ("id_with_dot", "webhook-id header contains a `.` (ambiguous signed content)"),
        /// A `webhook-id` with whitespace or a control character.
        IdForbiddenCharacter => ("id_forbidden_character", "webhook-id header contains whitespace or a control character"),
        /// A header given twice.
        DuplicateId => ("duplicate_id", "duplicate webhook-id header"),
        /// A header given twice.
        DuplicateTimestamp => ("duplicate_timestamp", "duplicate webhook-timestamp header"),
        /// A header given twice.
        DuplicateSignature => ("duplicate_signature", "duplicate webhook-signature header"),
        /// No `webhook-timestamp` header.
        MissingTimestamp => ("missing_timestamp", "missing webhook-timestamp header"),
        /// No `webhook-signature` header.
        MissingSignature => ("missing_signature", "missing webhook-signature header"),
        /// An empty `webhook-timestamp` header.
        EmptyTimestamp => ("empty_timestamp", "empty webhook-timestamp header"),
        /// An empty `webhook-signature` header.
        EmptySignature => ("empty_signature", "empty webhook-signature header"),
        /// A `webhook-timestamp` with leading zeros.
        TimestampLeadingZeros => ("timestamp_leading_zeros", "webhook-timestamp header has leading zeros"),
        /// A `webhook-timestamp` that is not whole unix seconds.
        TimestampNotSeconds => ("timestamp_not_seconds", "webhook-timestamp header is not a whole number of unix seconds"),
        /// A `webhook-timestamp` out of any plausible range.
        TimestampOutOfRange => ("timestamp_out_of_range", "webhook-timestamp header is out of range"),
        /// Older than the tolerance.
        TimestampTooOld => ("timestamp_too_old", "timestamp too old"),
        /// Further in the future than the tolerance.
        TimestampTooNew => ("timestamp_too_new", "timestamp too far in the future"),
        /// Far in the future, as a millisecond timestamp would be.
        TimestampInMilliseconds => ("timestamp_in_milliseconds", "timestamp too far in the future (it looks like milliseconds; webhook-timestamp is unix seconds)"),
        /// A `webhook-signature` entry not of the form `version,signature`.
        MalformedSignature => ("malformed_signature", "malformed webhook-signature header (each entry is `version,signature`)"),
        /// No `v1` entry in `webhook-signature`.
        NoSupportedSignature => ("no_supported_signature", "no supported signature (webhook-signature has no `v1` entry)"),
        /// No signature matches: a wrong secret, an altered message, an
        /// unknown source (the sender is not told which).
        NoMatchingSignature => ("no_matching_signature", "no matching signature"),
        /// A message id accepted before, inside its replay window.
        Replayed => ("replayed", "replayed message id"),
        /// A GitHub delivery id accepted before.
        ReplayedDelivery => ("replayed_delivery", "replayed delivery id"),
        /// No `X-GitHub-Delivery` header.
        MissingDelivery => ("missing_delivery", "missing X-GitHub-Delivery header"),
        /// A malformed `X-GitHub-Delivery` header.
        MalformedDelivery => ("malformed_delivery", "malformed X-GitHub-Delivery header"),
        /// A malformed `X-Hub-Signature-256` header.
        MalformedGithubSignature => ("malformed_github_signature", "malformed X-Hub-Signature-256 header (expected `sha256=` and 64 hex digits)"),
        /// Only the SHA-1 `X-Hub-Signature` was offered.
        GithubSha1 => ("github_sha1", "X-Hub-Signature (SHA-1) is not accepted; verify X-Hub-Signature-256 (`sha256=...`)"),
        /// More entries in `webhook-signature` than a sender ever needs (32).
        TooManySignatures => ("too_many_signatures", "webhook-signature header has more than 32 entries"),
        /// No `v1a` entry in `webhook-signature`, verifying with public keys.
        NoSupportedAsymmetricSignature => ("no_supported_asymmetric_signature", "no supported signature (webhook-signature has no `v1a` entry)"),
        /// No `X-Hub-Signature-256` header.
        MissingGithubSignature => ("missing_github_signature", "missing X-Hub-Signature-256 header"),
        /// `X-Hub-Signature-256` or `X-GitHub-Delivery` given twice.
        DuplicateGithubHeader => ("duplicate_github_header", "duplicate X-Hub-Signature-256 or X-GitHub-Delivery header"),
    }
}

reasons! {
    /// Why an OAuth step failed. Never carries a token.
    ///
    /// ```
    /// use secrets_core::error::OAuthFailure;
    ///
    /// assert_eq!(OAuthFailure::StateExpired.code(), "state_expired");
    /// ```
    pub enum OAuthFailure {
        /// The `state` is unknown or was already used.
        UnknownState => ("unknown_state", "unknown or already used state"),
        /// The `state` was issued to another user or tenant.
        ForeignState => ("foreign_state", "state belongs to another user"),
        /// The `state` expired before the provider sent the user back.
        StateExpired => ("state_expired", "state expired"),
        /// The user has no connection to this provider.
        NotConnected => ("not_connected", "not connected"),
        /// The connection was removed while a refresh ran.
        Disconnected => ("disconnected", "disconnected during the refresh"),
        /// The connection holds no refresh token.
        NoRefreshToken => ("no_refresh_token", "no refresh token; connect again"),
        /// The provider rotated the tokens but the new ones could not be
        /// stored: the connection must be made again.
        NeedsReconnect => ("needs_reconnect", "the provider rotated the tokens but the new ones could not be stored; connect again"),
        /// The provider refused the refresh token (`invalid_grant`).
        InvalidGrant => ("invalid_grant", "the provider refused the refresh token (invalid_grant); connect again"),
        /// The host's refresher failed (the detail says how).
        RefreshFailed => ("refresh_failed", "the refresh failed"),
        /// The refresh lease lapsed and was taken over, or was released:
        /// nothing was stored.
        LeaseLost => ("lease_lost", "the refresh lease lapsed and was taken over, or was already released; nothing was stored: call `begin_refresh` again"),
    }
}

reasons! {
    /// Where and how an audit log stopped verifying.
    ///
    /// ```
    /// use secrets_core::error::ChainBreak;
    ///
    /// assert_eq!(ChainBreak::Altered.code(), "altered");
    /// ```
    pub enum ChainBreak {
        /// An event of another tenant is in the log.
        ForeignEvent => ("foreign_event", "an event of another tenant is in the log"),
        /// Sequence numbers skip: events were deleted.
        Missing => ("missing", "events are missing before this one"),
        /// A sequence number repeats or goes back.
        Reordered => ("reordered", "an event is repeated or out of order"),
        /// The link to the previous event is wrong.
        BadLink => ("bad_link", "the link to the previous event is wrong"),
        /// The event's contents do not match its hash.
        Altered => ("altered", "the event was altered"),
        /// The log is shorter than a checkpoint taken earlier.
        Truncated => ("truncated", "the log is shorter than the checkpoint: it was truncated"),
        /// The event at a checkpoint differs from the one checkpointed.
        Rewritten => ("rewritten", "the event at the checkpoint differs: the log was rewritten"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ChainBreak, OAuthFailure, TokenRejection, WebhookRejection};
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_texts_unique() {
        fn check(codes: &[(&str, &str)]) {
            let mut seen = HashSet::new();
            let mut texts = HashSet::new();
            for (code, text) in codes {
                assert!(seen.insert(*code), "duplicate code {code}");
                assert!(texts.insert(*text), "duplicate text {text}");
                assert!(
                    code.starts_with(|c: char| c.is_ascii_lowercase())
                        && code
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{code}"
                );
            }
        }
        check(
            &TokenRejection::ALL
                .iter()
                .map(|r| (r.code(), r.as_str()))
                .collect::<Vec<_>>(),
        );
        check(
            &WebhookRejection::ALL
                .iter()
                .map(|r| (r.code(), r.as_str()))
                .collect::<Vec<_>>(),
        );
        check(
            &ChainBreak::ALL
                .iter()
                .map(|r| (r.code(), r.as_str()))
                .collect::<Vec<_>>(),
        );
        check(
            &OAuthFailure::ALL
                .iter()
                .map(|r| (r.code(), r.as_str()))
                .collect::<Vec<_>>(),
        );
    }
}

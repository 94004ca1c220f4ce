//! Why an attempt failed: a closed set, so that records, metrics and decisions agree on it.

use serde::Serialize;
use utoipa::ToSchema;

// The same list is the CHECK on `delivery_attempts.error_kind` (tests/api/schema.rs compares
// them) and, through ToSchema, the enum of every `ErrorKind` in the OpenAPI document.
/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub enum FailureKind {
    /// No complete response within the timeout.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// The connection was refused or dropped.
    Connect,
    Tls,
    /// The destination resolves only to addresses outside the allowed networks.
    ForbiddenAddress,
    /// A 3xx: redirects are not followed.
    Redirect,
    /// Any other non-2xx status.
    Status,
    /// A vendor API refused the request as invalid (a 4xx other than 408/429): sending the
    /// same request again cannot succeed.
    Rejected,
    /// The request could not be built or sent for another reason.
    Request,
    /// The DeliveryConfig or its target no longer exists or is invalid or disabled.
    Config,
    /// The stored event or TrackingEvent cannot be read back: nothing can ever be sent.
    Unreadable,
    /// The instance shut down while the request was in flight; the destination may or may
    /// not have received it. The delivery is due again at once.
    Interrupted,
}

impl FailureKind {
    pub const ALL: [FailureKind; 12] = [
        FailureKind::Timeout,
        FailureKind::Dns,
        FailureKind::Connect,
        FailureKind::Tls,
        FailureKind::ForbiddenAddress,
        FailureKind::Redirect,
        FailureKind::Status,
        FailureKind::Rejected,
        FailureKind::Request,
        FailureKind::Config,
        FailureKind::Unreadable,
        FailureKind::Interrupted,
    ];

    pub fn parse(text: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "Timeout",
            FailureKind::Dns => "Dns",
            FailureKind::Connect => "Connect",
            FailureKind::Tls => "Tls",
            FailureKind::ForbiddenAddress => "ForbiddenAddress",
            FailureKind::Redirect => "Redirect",
            FailureKind::Status => "Status",
            FailureKind::Rejected => "Rejected",
            FailureKind::Request => "Request",
            FailureKind::Config => "Config",
            FailureKind::Unreadable => "Unreadable",
            FailureKind::Interrupted => "Interrupted",
        }
    }

    /// Failures that retrying cannot fix until an admin changes something.
    pub(super) fn is_permanent(self) -> bool {
        matches!(
            self,
            FailureKind::ForbiddenAddress | FailureKind::Config | FailureKind::Rejected | FailureKind::Unreadable
        )
    }
}

//! The `ErrorCode` of every error the API answers with, one per case.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::InvalidCode;

/// Every `ErrorCode` the API answers with: stable and machine-readable, one per case. The
/// README lists them all (a test checks it), and the OpenAPI document shows them as an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ErrorCode {
    RequiredField,
    InvalidID,
    InvalidValue,
    InvalidEventType,
    InvalidUrl,
    UnknownField,
    InvalidFieldType,
    InvalidJson,
    InvalidBody,
    InvalidQueryParameter,
    ReferenceNotFound,
    IdExists,
    InUse,
    NotFound,
    MethodNotAllowed,
    MissingToken,
    InvalidToken,
    InsufficientRoles,
    ClientNotInScope,
    InFlight,
    NoHttpTarget,
    UnsupportedMediaType,
    UnsupportedContentEncoding,
    PayloadTooLarge,
    NestedTooDeep,
    RequestTimeout,
    UriTooLong,
    HeadersTooLarge,
    Overloaded,
    ServiceUnavailable,
    InternalServerError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::RequiredField,
        ErrorCode::InvalidID,
        ErrorCode::InvalidValue,
        ErrorCode::InvalidEventType,
        ErrorCode::InvalidUrl,
        ErrorCode::UnknownField,
        ErrorCode::InvalidFieldType,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidQueryParameter,
        ErrorCode::ReferenceNotFound,
        ErrorCode::IdExists,
        ErrorCode::InUse,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MissingToken,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientRoles,
        ErrorCode::ClientNotInScope,
        ErrorCode::InFlight,
        ErrorCode::NoHttpTarget,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::UnsupportedContentEncoding,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NestedTooDeep,
        ErrorCode::RequestTimeout,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::Overloaded,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalServerError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RequiredField => "RequiredField",
            ErrorCode::InvalidID => "InvalidID",
            ErrorCode::InvalidValue => "InvalidValue",
            ErrorCode::InvalidEventType => "InvalidEventType",
            ErrorCode::InvalidUrl => "InvalidUrl",
            ErrorCode::UnknownField => "UnknownField",
            ErrorCode::InvalidFieldType => "InvalidFieldType",
            ErrorCode::InvalidJson => "InvalidJson",
            ErrorCode::InvalidBody => "InvalidBody",
            ErrorCode::InvalidQueryParameter => "InvalidQueryParameter",
            ErrorCode::ReferenceNotFound => "ReferenceNotFound",
            ErrorCode::IdExists => "IdExists",
            ErrorCode::InUse => "InUse",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::MissingToken => "MissingToken",
            ErrorCode::InvalidToken => "InvalidToken",
            ErrorCode::InsufficientRoles => "InsufficientRoles",
            ErrorCode::ClientNotInScope => "ClientNotInScope",
            ErrorCode::InFlight => "InFlight",
            ErrorCode::NoHttpTarget => "NoHttpTarget",
            ErrorCode::UnsupportedMediaType => "UnsupportedMediaType",
            ErrorCode::UnsupportedContentEncoding => "UnsupportedContentEncoding",
            ErrorCode::PayloadTooLarge => "PayloadTooLarge",
            ErrorCode::NestedTooDeep => "NestedTooDeep",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::UriTooLong => "UriTooLong",
            ErrorCode::HeadersTooLarge => "HeadersTooLarge",
            ErrorCode::Overloaded => "Overloaded",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::InternalServerError => "InternalServerError",
        }
    }
}

impl From<InvalidCode> for ErrorCode {
    fn from(code: InvalidCode) -> Self {
        match code {
            InvalidCode::Required => ErrorCode::RequiredField,
            InvalidCode::InvalidId => ErrorCode::InvalidID,
            InvalidCode::InvalidValue => ErrorCode::InvalidValue,
            InvalidCode::InvalidEventType => ErrorCode::InvalidEventType,
            InvalidCode::InvalidUrl => ErrorCode::InvalidUrl,
            InvalidCode::InvalidQuery => ErrorCode::InvalidQueryParameter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_error_code() {
        let readme = include_str!("../../README.md");
        for code in ErrorCode::ALL {
            assert!(
                readme.contains(&format!("`{}`", code.as_str())),
                "{code:?} is not in the README"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}

//! Field-level validation failures. Parsers collect every problem they find, so one response
//! tells a client everything that is wrong with its document instead of one field per round trip.

use std::fmt;

/// Why a field was rejected; each is one stable `ErrorCode` in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidCode {
    /// A required field is absent, null or blank.
    Required,
    /// An ID (or ID-like reference) has characters outside `[A-Za-z0-9_.-]` or is too long.
    InvalidId,
    /// A value is out of its allowed range or set (lengths, numbers, enums).
    InvalidValue,
    /// `EventType` is not one of the known event types.
    InvalidEventType,
    /// A URL that must be an absolute http(s) URL is not.
    InvalidUrl,
    /// A list option (`page`, `pageSize`, `sortBy`, a filter…) is malformed or names an unknown field.
    InvalidQuery,
}

impl InvalidCode {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidCode::Required => "RequiredField",
            InvalidCode::InvalidId => "InvalidID",
            InvalidCode::InvalidValue => "InvalidValue",
            InvalidCode::InvalidEventType => "InvalidEventType",
            InvalidCode::InvalidUrl => "InvalidUrl",
            InvalidCode::InvalidQuery => "InvalidQueryParameter",
        }
    }
}

/// One rejected field: which (as a dotted path, `DeliveryTargets.Http.Endpoint`), why, and what
/// a client should be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub code: InvalidCode,
    pub field: String,
    pub message: String,
    /// Extra machine-readable detail, e.g. the allowed values of an enum.
    pub allowed: Option<Vec<String>>,
}

impl Invalid {
    pub fn new(code: InvalidCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            code,
            field: field.into(),
            message: message.into(),
            allowed: None,
        }
    }

    pub fn required(field: &str) -> Self {
        Invalid::new(InvalidCode::Required, field, format!("{field} is required."))
    }

    /// `value`, given for `field`, is none of an enum's `allowed` values (it is not `what`):
    /// the message and [`Invalid::allowed`] both list them, so a client can correct it.
    pub fn not_one_of(code: InvalidCode, field: &str, value: &str, what: &str, allowed: &[&str]) -> Self {
        Invalid {
            code,
            field: field.to_owned(),
            message: format!("{field} {value:?} is not {what}; allowed: {}.", allowed.join(", ")),
            allowed: Some(allowed.iter().map(|a| (*a).to_owned()).collect()),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every problem found in one document; never empty when returned as an error.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Invalids(pub Vec<Invalid>);

impl Invalids {
    pub fn push(&mut self, invalid: Invalid) {
        self.0.push(invalid);
    }

    /// Keeps the value when it parsed, records the problems when it did not.
    pub fn take<T, E: Into<Invalids>>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(invalids) => {
                self.extend(invalids.into());
                None
            }
        }
    }

    pub fn extend(&mut self, other: Invalids) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Invalids> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl From<Invalid> for Invalids {
    fn from(invalid: Invalid) -> Self {
        Invalids(vec![invalid])
    }
}

/// A required, non-blank string of at most `max` characters.
pub fn required_text(field: &str, value: Option<&str>, max: usize) -> Result<String, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Err(Invalid::required(field)),
        Some(text) => bounded_text(field, text, max),
    }
}

/// An optional string of at most `max` characters; blank counts as absent.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => bounded_text(field, text, max).map(Some),
    }
}

fn bounded_text(field: &str, text: &str, max: usize) -> Result<String, Invalid> {
    if text.chars().count() > max {
        Err(Invalid::new(
            InvalidCode::InvalidValue,
            field,
            format!("{field} must be at most {max} characters."),
        ))
    } else {
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_required_text_is_missing() {
        let err = required_text("Name", Some("   "), 10).unwrap_err();
        assert_eq!(err.code, InvalidCode::Required);
        assert_eq!(err.message, "Name is required.");
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("Name", Some(" a "), 1).unwrap(), "a");
        let err = required_text("Name", Some("abc"), 2).unwrap_err();
        assert_eq!(err.code, InvalidCode::InvalidValue);
        assert_eq!(optional_text("X", Some(""), 2).unwrap(), None);
    }

    #[test]
    fn invalids_collect_every_problem() {
        let mut invalids = Invalids::default();
        assert_eq!(invalids.take(Ok::<_, Invalid>(1)), Some(1));
        assert_eq!(invalids.take(required_text("A", None, 1)), None);
        assert_eq!(invalids.take(required_text("B", None, 1)), None);
        assert_eq!(invalids.0.len(), 2);
        assert!(invalids.finish(|| ()).is_err());
    }
}

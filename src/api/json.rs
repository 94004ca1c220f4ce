//! `JsonBody<T>`: the request-body extractor. It insists on a JSON content type and a content
//! encoding it can read (identity, gzip or deflate), refuses bodies over the configured size —
//! counted after decompression — and bodies that take longer than the configured time to
//! arrive, refuses documents nested too deep ([`nesting`]), and turns every serde failure
//! into a precise 400 that names the offending field (`UnknownField`, `InvalidFieldType`,
//! `InvalidJson`, `NestedTooDeep`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::{Decompress, Payload};
use actix_web::http::header::{self, ContentEncoding};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::error::{ApiError, ErrorCode};
use super::nesting::{self, MAX_DEPTH};

/// What a request body may be: at most `max_bytes` (decompressed), arriving within `timeout`.
/// From `server.max_body_bytes` and `server.body_timeout_seconds`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A JSON request body decoded into `T`, nesting at most `MAX` levels (a batch's allows more,
/// and holds each of its documents to [`MAX_DEPTH`] alone).
pub struct JsonBody<T, const MAX: usize = MAX_DEPTH>(pub T);

impl<T: DeserializeOwned + 'static, const MAX: usize> FromRequest for JsonBody<T, MAX> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req.app_data::<BodyLimits>().copied().unwrap_or_default();
        let checked = check_content_type(req)
            .and_then(|()| content_encoding(req))
            .and_then(|encoding| check_declared_length(req, limits.max_bytes).map(|()| encoding));
        let payload = payload.take();
        Box::pin(async move {
            let encoding = checked?;
            let body = tokio::time::timeout(limits.timeout, read(payload, encoding, limits.max_bytes))
                .await
                .map_err(|_| too_slow(limits.timeout))??;
            decode_nested(&body, MAX).map(JsonBody)
        })
    }
}

/// Reads the whole body, decompressed, refusing it as soon as it passes `limit` bytes (so a
/// small compressed body cannot expand without bound).
async fn read(payload: Payload, encoding: ContentEncoding, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut payload = Decompress::new(payload, encoding);
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidBody,
                format!("The body could not be read: {e}"),
                None,
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body's `Content-Encoding`: none, `identity`, `gzip` or `deflate`. Any other (or a list
/// of several) is refused rather than read as JSON.
fn content_encoding(req: &HttpRequest) -> Result<ContentEncoding, ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_ENCODING) else {
        return Ok(ContentEncoding::Identity);
    };
    let declared = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match declared.as_str() {
        "" | "identity" => Ok(ContentEncoding::Identity),
        "gzip" | "x-gzip" => Ok(ContentEncoding::Gzip),
        "deflate" => Ok(ContentEncoding::Deflate),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedContentEncoding,
            format!(
                "The body's Content-Encoding {:?} is not supported; send it uncompressed, gzip or deflate.",
                String::from_utf8_lossy(value.as_bytes())
            ),
            Some(json!({ "Supported": ["identity", "gzip", "deflate"] })),
        )),
    }
}

fn too_slow(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        ErrorCode::RequestTimeout,
        format!(
            "The body did not arrive within {} seconds; nothing was stored.",
            timeout.as_secs()
        ),
        Some(json!({ "TimeoutSeconds": timeout.as_secs() })),
    )
    .closing_connection()
}

fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!(
                "The body must be sent as Content-Type: application/json; got {}.",
                if content_type.is_empty() { "none" } else { content_type }
            ),
            None,
        ))
    }
}

fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(length) if length > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!("The body is larger than the {limit}-byte limit."),
        Some(json!({ "Limit": limit })),
    )
}

/// Parses a JSON object into `T`, with errors that name the field. Every request body of this
/// API is an object; serde would otherwise read a struct from an array, field by position.
pub fn decode_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    decode_nested(bytes, MAX_DEPTH)
}

/// As [`decode_slice`], refusing a document that nests more than `max_depth` levels.
fn decode_nested<T: DeserializeOwned>(bytes: &[u8], max_depth: usize) -> Result<T, ApiError> {
    nesting::check_text(bytes, max_depth)?;
    if contains_escaped_nul(bytes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            "The body contains the NUL character (\\u0000), which no field may hold.",
            None,
        ));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(err) => Err(syntax_error(&err)),
            Ok(_) => Err(not_an_object()),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(describe)?;
    deserializer.end().map_err(|e| syntax_error(&e))?;
    Ok(value)
}

/// Whether a JSON text holds `\u0000` in a string (PostgreSQL can store it in neither `text`
/// nor `jsonb`). An escape starts at a backslash preceded by an even number of backslashes.
fn contains_escaped_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(at, window)| {
        window == b"\\u0000" && bytes[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// Converts an already-parsed JSON object (a merged PATCH document) into `T`.
pub fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(not_an_object());
    }
    serde_path_to_error::deserialize(value).map_err(describe)
}

fn not_an_object() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidFieldType,
        "The body must be a JSON object.",
        Some(json!({ "Field": "(body)" })),
    )
}

fn describe(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return syntax_error(&inner);
    }
    // serde's own wording names the field and the expected ones; only the position is noise.
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let parent = path.rsplit_once('.').map(|(parent, _)| parent);
        let full = match parent {
            Some(parent) => format!("{parent}.{field}"),
            None => field.to_owned(),
        };
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnknownField,
            format!("{full} is not a field of this resource: {message}."),
            Some(json!({ "Field": full })),
        );
    }
    let field = if path == "." { "(body)".to_owned() } else { path };
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidFieldType,
        format!("{field}: {message}."),
        Some(json!({ "Field": field })),
    )
}

fn syntax_error(err: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidJson,
        format!("The body is not valid JSON: {err}."),
        Some(json!({ "Line": err.line(), "Column": err.column() })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryConfigDoc;

    fn error_of(body: &str) -> Value {
        let err = decode_slice::<DeliveryConfigDoc>(body.as_bytes()).unwrap_err();
        serde_json::to_value(err.body()).unwrap()["Errors"][0].clone()
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        for body in ["{", "{\"Name\":}", "", "{} trailing"] {
            assert_eq!(error_of(body)["ErrorCode"], "InvalidJson", "{body}");
        }
    }

    #[test]
    fn an_escaped_nul_is_refused_but_an_escaped_backslash_before_u0000_is_not() {
        assert_eq!(error_of(r#"{"Name":"a\u0000"}"#)["ErrorCode"], "InvalidJson");
        assert_eq!(error_of(r#"{"Name":"\\\u0000"}"#)["ErrorCode"], "InvalidJson");
        assert!(!contains_escaped_nul(br#"{"Name":"\\u0000"}"#));
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let err = error_of(r#"{"DeliveryTargets":{"Http":{"Endpont":"x"}}}"#);
        assert_eq!(err["ErrorCode"], "UnknownField");
        assert_eq!(err["Data"]["Field"], "DeliveryTargets.Http.Endpont");
        assert_eq!(error_of(r#"{"Nmae":"x"}"#)["Data"]["Field"], "Nmae");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = error_of(r#"{"Enabled":"yes"}"#);
        assert_eq!(err["ErrorCode"], "InvalidFieldType");
        assert_eq!(err["Data"]["Field"], "Enabled");
        assert_eq!(error_of("[1,2]")["Data"]["Field"], "(body)");
    }
}

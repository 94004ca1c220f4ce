//! The one error type at the HTTP edge. Every failure a handler can meet becomes an
//! [`ApiError`], rendered as OrderCloud's `{"Errors":[{"ErrorCode","Message","Data"}]}` with a
//! stable `ErrorCode` per case. Server-side failures are logged once, with their cause chain,
//! here; clients get a message that says what happened without operator detail.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::domain::{Invalids, Role};

pub use super::error_code::ErrorCode;
use crate::ingest::IngestError;
use crate::storage::{self, SaveError, StorageError};

/// `{"Errors":[...]}`: the body of every 4xx and 5xx response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorItem {
    pub error_code: ErrorCode,
    pub message: String,
    /// Case-specific detail, e.g. `{"Field":"Name"}` or the allowed values.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    errors: Vec<ErrorItem>,
    /// What went wrong inside, for the log; never shown to the client.
    cause: Option<anyhow::Error>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u32>,
    /// The methods for an `Allow` header (a 405).
    allow: Option<String>,
    /// Close the connection after the response (the request's body was not read to its end).
    close: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>, data: Option<Value>) -> Self {
        ApiError {
            status,
            errors: vec![ErrorItem {
                error_code: code,
                message: message.into(),
                data,
            }],
            cause: None,
            retry_after: None,
            allow: None,
            close: false,
        }
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Closes the connection after responding: what is left of the request cannot be read.
    pub fn closing_connection(mut self) -> Self {
        self.close = true;
        self
    }

    /// 400 with one item per invalid field.
    pub fn invalid(invalids: Invalids) -> Self {
        let errors = invalids
            .0
            .into_iter()
            .map(|invalid| {
                let mut data = json!({ "Field": invalid.field });
                if let Some(allowed) = invalid.allowed {
                    data["Allowed"] = json!(allowed);
                }
                ErrorItem {
                    error_code: invalid.code.into(),
                    message: invalid.message,
                    data: Some(data),
                }
            })
            .collect();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            errors,
            cause: None,
            retry_after: None,
            allow: None,
            close: false,
        }
    }

    pub fn not_found(kind: &str, id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{kind} not found: {id}"),
            Some(json!({ "ObjectType": kind, "ObjectID": id })),
        )
    }

    pub fn route_not_found(path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("No resource at {path}."),
            None,
        )
    }

    /// `allow` lists the methods the path takes, for the `Allow` header.
    pub fn method_not_allowed(method: &str, path: &str, allow: Option<String>) -> Self {
        let mut error = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}."),
            None,
        );
        error.allow = allow;
        error
    }

    pub fn unauthorized(code: ErrorCode, message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message, None)
    }

    pub fn insufficient_roles(sufficient: &[Role], assigned: &[Role]) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::InsufficientRoles,
            format!(
                "This API key lacks the role for this request; any of these is sufficient: {}.",
                sufficient.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Some(json!({ "SufficientRoles": sufficient, "AssignedRoles": assigned })),
        )
    }

    pub fn invalid_query(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQueryParameter, message, None)
    }

    pub fn unavailable(message: &str) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            message,
            None,
        )
    }

    pub fn internal(cause: anyhow::Error) -> Self {
        ApiError {
            cause: Some(cause),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalServerError,
                "Something went wrong on our side; it has been logged.",
                None,
            )
        }
    }

    /// Logs the cause of a server-side failure (once per response).
    pub fn log_cause(&self) {
        if let Some(cause) = &self.cause {
            tracing::error!(
                error = format!("{cause:#}"),
                status = self.status.as_u16(),
                "request failed"
            );
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.errors.first().map(|e| e.message.as_str()).unwrap_or("");
        write!(f, "{} {first}", self.status)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.log_cause();
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        if let Some(allow) = &self.allow {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if self.close {
            response.force_close();
        }
        response.json(self.body())
    }
}

/// The 503 for a statement the database could not run ([`storage::unavailable`]): nothing of
/// the request was stored, and it may be sent again.
fn database_unavailable(err: &sqlx::Error) -> ApiError {
    tracing::warn!(error = %err, "database unavailable");
    let message = match err {
        sqlx::Error::PoolTimedOut => "The database is not answering in time; nothing was stored. Retry shortly.",
        _ if storage::connection_refused(err) => {
            "The database refuses Trackway's connections; nothing was stored. Retry shortly."
        }
        _ => "The connection to the database was lost before the request completed; nothing was stored. Retry shortly.",
    };
    ApiError::unavailable(message).with_retry_after(1)
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::AlreadyExists { kind, id } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::IdExists,
                format!("{kind} {id} already exists."),
                Some(json!({ "ObjectType": kind, "ObjectID": id })),
            ),
            StorageError::MissingReference { field, kind, id } => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ReferenceNotFound,
                format!("{field} {id:?} does not name an existing {kind}."),
                Some(json!({ "Field": field, "ObjectType": kind, "ObjectID": id })),
            ),
            StorageError::InUse { kind, id, used_by } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InUse,
                format!(
                    "{kind} {id} is still used by {}; remove those first.",
                    used_by
                        .iter()
                        .map(|r| format!("{} {}", r.kind, r.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(json!({
                    "ObjectType": kind,
                    "ObjectID": id,
                    "UsedBy": used_by.iter().map(|r| json!({"ObjectType": r.kind, "ObjectID": r.id})).collect::<Vec<_>>(),
                })),
            ),
            StorageError::Database(err) if storage::unavailable(&err) => database_unavailable(&err),
            StorageError::Database(err) => ApiError::internal(anyhow::Error::new(err).context("database")),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Stopped => {
                ApiError::unavailable("Trackway is shutting down; nothing was stored. Retry shortly.")
                    .with_retry_after(1)
            }
            IngestError::Unavailable(cause) => database_unavailable(&cause),
            IngestError::Storage(err) => err.into(),
        }
    }
}

impl From<SaveError<ApiError>> for ApiError {
    fn from(err: SaveError<ApiError>) -> Self {
        match err {
            SaveError::Rejected(err) => err,
            SaveError::Storage(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Invalid, InvalidCode};

    #[test]
    fn invalids_render_one_item_per_field() {
        let mut invalids = Invalids::default();
        invalids.push(Invalid::required("Name"));
        invalids.push(Invalid::new(
            InvalidCode::InvalidUrl,
            "DeliveryTargets.Http.Endpoint",
            "bad",
        ));
        let body = serde_json::to_value(ApiError::invalid(invalids).body()).unwrap();
        assert_eq!(
            body,
            json!({"Errors":[
                {"ErrorCode":"RequiredField","Message":"Name is required.","Data":{"Field":"Name"}},
                {"ErrorCode":"InvalidUrl","Message":"bad","Data":{"Field":"DeliveryTargets.Http.Endpoint"}}
            ]})
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2"));
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!serde_json::to_string(&err.body()).unwrap().contains("hunter2"));
    }
}

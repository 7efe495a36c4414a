//! Microsoft Graph errors: `{"error":{"code","message","innerError":{date, request-id,
//! client-request-id}}}` with `Retry-After` on throttling. Each error also names a
//! rejection reason for the admin counters. Owns no rules; handlers pick the error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::Rejection;
use crate::store::StoreFailure;

/// One Graph error answer.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph error code, e.g. `BadRequest`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Counter reason, e.g. `graph.message.duplicate_created`.
    pub reason: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, reason: &str, message: impl Into<String>) -> GraphError {
        GraphError { status, code, message: message.into(), reason: reason.to_string(), retry_after: None }
    }

    /// 400 BadRequest.
    pub fn bad_request(reason: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", reason, message)
    }

    /// 401 InvalidAuthenticationToken.
    pub fn unauthorized(reason: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", reason, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(reason: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::FORBIDDEN, "Forbidden", reason, message)
    }

    /// 404 NotFound.
    pub fn not_found(reason: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::NOT_FOUND, "NotFound", reason, message)
    }

    /// 409 Conflict.
    pub fn conflict(reason: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::CONFLICT, "Conflict", reason, message)
    }

    /// 409 nameAlreadyExists (drive items).
    pub fn name_exists(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::CONFLICT, "nameAlreadyExists", "graph.drive.name_exists", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(reason: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", reason, message)
    }

    /// 416 invalidRange (upload sessions).
    pub fn invalid_range(message: impl Into<String>) -> GraphError {
        GraphError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "invalidRange",
            "graph.drive.invalid_range",
            message,
        )
    }

    /// 429 TooManyRequests with Retry-After.
    pub fn throttled(bucket: &str, retry_after: u64) -> GraphError {
        let mut e = GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "graph.quota",
            format!("Too many requests ({bucket}). Retry after {retry_after} seconds."),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 500 InternalServerError.
    pub fn internal(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "graph.internal", message)
    }

    /// 503 ServiceUnavailable with Retry-After.
    pub fn unavailable(retry_after: u64) -> GraphError {
        let mut e = GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "graph.unavailable",
            "The service is temporarily unavailable.",
        );
        e.retry_after = Some(retry_after);
        e
    }
}

impl From<StoreFailure> for GraphError {
    fn from(e: StoreFailure) -> GraphError {
        GraphError::internal(format!("state could not be persisted: {}", e.0))
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let now = crate::time::wall_now().to_rfc3339_millis();
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": now.trim_end_matches('Z').split('.').next().unwrap_or(&now),
                "request-id": crate::ids::random_guid(),
                "client-request-id": crate::ids::random_guid(),
            }
        }});
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp.extensions_mut().insert(Rejection(self.reason));
        resp
    }
}

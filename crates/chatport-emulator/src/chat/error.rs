//! Google API errors: the google.rpc envelope `{"error":{"code","message","status"}}` with
//! the HTTP status of the rpc code. Each error also names a rejection reason for the
//! admin counters. Owns no rules; handlers pick the error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::Rejection;
use crate::store::StoreFailure;

/// One Google API error answer.
#[derive(Debug, Clone)]
pub struct ChatError {
    /// HTTP status.
    pub status: StatusCode,
    /// google.rpc code name, e.g. `INVALID_ARGUMENT`.
    pub rpc: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Counter reason, e.g. `chat.message.create_time_in_future`.
    pub reason: String,
    /// Seconds for a `Retry-After` header, when one is sent.
    pub retry_after: Option<u64>,
}

impl ChatError {
    fn new(status: StatusCode, rpc: &'static str, reason: &str, message: impl Into<String>) -> ChatError {
        ChatError { status, rpc, message: message.into(), reason: reason.to_string(), retry_after: None }
    }

    /// 400 INVALID_ARGUMENT.
    pub fn invalid(reason: &str, message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", reason, message)
    }

    /// 400 FAILED_PRECONDITION.
    pub fn precondition(reason: &str, message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::BAD_REQUEST, "FAILED_PRECONDITION", reason, message)
    }

    /// 401 UNAUTHENTICATED.
    pub fn unauthenticated(reason: &str, message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", reason, message)
    }

    /// 403 PERMISSION_DENIED.
    pub fn denied(reason: &str, message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", reason, message)
    }

    /// 404 NOT_FOUND.
    pub fn not_found(reason: &str, message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::NOT_FOUND, "NOT_FOUND", reason, message)
    }

    /// 409 ALREADY_EXISTS.
    pub fn exists(reason: &str, message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::CONFLICT, "ALREADY_EXISTS", reason, message)
    }

    /// 429 RESOURCE_EXHAUSTED.
    pub fn resource_exhausted(quota: &str) -> ChatError {
        ChatError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "chat.quota",
            format!("Quota exceeded for quota metric '{quota}'."),
        )
    }

    /// 500 INTERNAL.
    pub fn internal(message: impl Into<String>) -> ChatError {
        ChatError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "chat.internal", message)
    }

    /// 503 UNAVAILABLE.
    pub fn unavailable() -> ChatError {
        ChatError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "chat.unavailable",
            "The service is currently unavailable.",
        )
    }
}

impl From<StoreFailure> for ChatError {
    fn from(e: StoreFailure) -> ChatError {
        ChatError::internal(format!("state could not be persisted: {}", e.0))
    }
}

impl IntoResponse for ChatError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"code": self.status.as_u16(), "message": self.message, "status": self.rpc}});
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

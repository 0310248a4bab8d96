//! Error replies: a status, MaxCompute's error code and a message, rendered as XML on the
//! REST API and as JSON on the tunnel (by `http.rs`).

use axum::http::StatusCode;

/// An error reply.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

/// 400 `InvalidArgument`.
pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, "InvalidArgument", message)
}

/// 500 `InternalServerError`.
pub(crate) fn internal(message: impl Into<String>) -> ApiError {
    err(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        message,
    )
}

/// 404 `NoSuchTable`.
pub(crate) fn no_table(p: &str, t: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        "NoSuchTable",
        format!("table {p}.{t} does not exist"),
    )
}

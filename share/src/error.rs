//! The error body every non-2xx API response carries (DESIGN §3.3):
//! `{"id":"not_found","message":"…","hint":"…"}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// A stable machine-readable kind: `unauthorized`, `not_found`, `conflict`, `invalid_params`,
    /// `payload_too_large`, `bad_request`, `method_not_allowed`, `internal_error`.
    pub id: String,
    /// What went wrong, in one lowercase sentence without a final period.
    pub message: String,
    /// How to fix it, when there is something the caller can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

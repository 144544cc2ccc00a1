//! `GET /openapi.json`: the API's OpenAPI 3.1 document, written by hand next to this file and
//! checked against the router by a test (every route documented, nothing documented that is not
//! routed).

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

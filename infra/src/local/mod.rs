//! `emo-local`'s own parts, which no Lambda has: the router that puts every route on one port
//! ([`router`], one table of routes), the blob route that stands in for S3's presigned GETs
//! ([`blobs`]), and the worker loop that stands in for the SQS event source ([`worker`]).

pub mod blobs;
pub mod router;
pub mod worker;

/// The API's contract (`openapi.yaml` at the repository root), served at [`OPENAPI_ROUTE`].
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");
pub const OPENAPI_ROUTE: &str = "/openapi.yaml";

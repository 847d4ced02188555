//! What the tests share: the processes under test, the S3 server, test
//! images and a local HTTP server for URL imports.

pub mod app;
pub mod images;
pub mod s3;
pub mod source_server;

pub use app::{Storage, TestApp};

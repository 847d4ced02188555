//! Black-box tests: each starts the real `avatar-api` (and, where it says,
//! real `avatar-worker` processes) against the machine's Redis, under a key
//! prefix of its own, and an S3-compatible server with a bucket of its own,
//! and talks to them over HTTP.

use avatar_testkit as support;

mod admission;

mod auth;
mod cage;
mod connections;
mod crop;
mod crop_modes;
mod delete;
mod errors;
mod fair_share;
mod hostile_images;
mod hostile_requests;
mod idempotency;
mod import_command;
mod import_scale;
mod imports;
mod jobs;
mod lanes;
mod metrics;
mod openapi;
mod ordering;
mod phone_formats;
mod processes;
mod redis_deployments;
mod redis_load;
mod request_ids;
mod security_auth;
mod security_fetch;
mod security_fuzz;
mod security_inputs;
mod security_limits;
mod sizes;
mod storage;
mod try_page;
mod uploads;
mod url_import;
mod webhook_isolation;
mod webhooks;

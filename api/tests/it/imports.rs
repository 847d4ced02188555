//! Bulk imports through the running service, against a local origin that
//! serves real corpus photos and misbehaves on demand.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::import_counts;
use crate::support::source_server;
use crate::support::{TestApp, assert_error, corpus, eventually, images};

/// A real phone photo of the corpus for the origin to serve, or a made
/// JPEG where the corpus is not given.
fn photo() -> Vec<u8> {
    match corpus::dir("imports") {
        Some(dir) => {
            let path = dir.join("photos").join("cart_IMG_5810.jpg");
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        }
        None => images::jpeg(1200, 900),
    }
}

fn counts(import: &Value) -> [u64; 6] {
    import_counts(import).unwrap_or_else(|| panic!("an import without its counts: {import}"))
}

/// Checks that the counts add up to the total, and returns the import.
fn add_up(import: Value) -> Value {
    let sum: u64 = counts(&import).iter().sum();
    assert_eq!(Some(sum), import["total"].as_u64(), "{import}");
    import
}

async fn accepted(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.expect("json");
    let id = body["importId"].as_str().expect("importId").to_owned();
    assert_eq!(body["statusUrl"], format!("/api/public/imports/{id}"));
    assert_eq!(location.as_deref(), body["statusUrl"].as_str());
    id
}

/// Every failure of the import, read page by page with `limit`.
async fn all_failures(app: &TestApp, id: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/failures?limit={limit}&cursor={c}"),
            None => format!("/failures?limit={limit}"),
        };
        let page = app.get_import(id, &query).await;
        let listed = page["items"].as_array().expect("items").clone();
        assert!(listed.len() <= limit, "{page}");
        items.extend(listed);
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(page["nextCursor"].is_null(), "{page}");
                return items;
            }
        }
    }
}

fn item(user: &str, url: impl std::fmt::Display) -> Value {
    json!({"userId": user, "avatarUrl": url.to_string()})
}

#[tokio::test]
async fn an_import_ends_with_counts_that_add_up_and_its_failures_in_index_order() {
    let app = TestApp::spawn().await;
    let origin = source_server::start(photo(), Duration::ZERO).await;
    let items = json!([
        item("imp-a", format!("{origin}/image/a")),
        item("imp-b", format!("{origin}/missing")),
        {"userId": "not valid!", "avatarUrl": format!("{origin}/image/c")},
        item("imp-d", format!("{origin}/image/d")),
        item("imp-e", format!("{origin}/text")),
        {"userId": "imp-f", "avatarUrl": "ftp://example.com/f.png"},
        "not an object",
        item("imp-h", format!("{origin}/flaky/h")),
    ]);
    let id = accepted(app.post_import(&json!({"items": items})).await).await;

    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["mode"], "replace");
    assert_eq!(done["total"], 8);
    assert_eq!(counts(&done), [0, 0, 3, 5, 0, 0], "{done}");

    // The flaky origin answered 503 with Retry-After once, then the photo.
    assert_eq!(origin.hits("/flaky/h"), 2);
    for user in ["imp-a", "imp-d", "imp-h"] {
        let current = app.current_avatar("anyone", user).await;
        let url = current["avatarUrl"].as_str().expect("an avatar");
        assert_eq!(app.download(url).await.status(), StatusCode::OK);
    }

    let failures = all_failures(&app, &id, 2).await;
    let summary: Vec<(u64, &str)> = failures
        .iter()
        .map(|f| {
            (
                f["index"].as_u64().expect("index"),
                f["error"]["code"].as_str().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "image_rejected"),
            (2, "invalid_request"),
            (4, "unsupported_media_type"),
            (5, "invalid_request"),
            (6, "invalid_request"),
        ]
    );
    assert_eq!(failures[0]["userId"], "imp-b");
    assert_eq!(failures[0]["avatarUrl"], format!("{origin}/missing"));
    let message = failures[0]["error"]["message"].as_str().expect("message");
    assert!(message.contains("HTTP 404"), "{message}");
    let message = failures[1]["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("userId:"), "{message}");
}

#[tokio::test]
async fn an_ndjson_import_is_read_as_a_stream_of_lines() {
    let app = TestApp::spawn().await;
    let origin = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let mut body = String::new();
    for n in 0..1200 {
        body += &format!(
            "{}\n",
            item(&format!("nd-{n}"), format!("{origin}/image/{n}"))
        );
        if n == 600 {
            body += "\n{not json\n";
            body += &format!("{}\n", "x".repeat(20_000));
        }
    }
    // Chunks that cut lines in two.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .as_bytes()
        .chunks(777)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures::stream::iter(chunks);
    let id = accepted(
        app.post_import_ndjson("?mode=replace", reqwest::Body::wrap_stream(stream))
            .await,
    )
    .await;
    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(done["total"], 1202, "{done}");
    assert_eq!(done["completed"], 1200, "{done}");
    let failures = all_failures(&app, &id, 1000).await;
    let indexes: Vec<u64> = failures
        .iter()
        .map(|f| f["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(indexes, [601, 602], "the blank line is no item");
    let message = failures[1]["error"]["message"].as_str().expect("message");
    assert!(message.contains("longer than"), "{message}");
}

#[tokio::test]
async fn mode_missing_fills_only_missing_avatars() {
    let app = TestApp::spawn().await;
    let origin = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let response = app
        .put_bytes("has-one", "me", "?wait=10", images::png(300, 300))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let before = app.current_avatar("anyone", "has-one").await;

    let items = json!([
        item("has-one", format!("{origin}/image/1")),
        item("has-none", format!("{origin}/image/2")),
    ]);
    let id = accepted(
        app.post_import(&json!({"items": items, "mode": "missing"}))
            .await,
    )
    .await;
    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(done["mode"], "missing");
    assert_eq!(
        (done["completed"].clone(), done["skipped"].clone()),
        (json!(1), json!(1)),
        "{done}"
    );
    assert_eq!(app.current_avatar("anyone", "has-one").await, before);
    assert!(app.current_avatar("anyone", "has-none").await["avatarUrl"].is_string());

    // Users with and without avatars sharing one URL: the skipped ones
    // leave the URL's avatar to copy, so it is still fetched once.
    for user in ["shared-has-1", "shared-has-2"] {
        let response = app
            .put_bytes(user, "me", "?wait=10", images::png(100, 100))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let shared = format!("{origin}/image/shared");
    let users = [
        "shared-a",
        "shared-has-1",
        "shared-b",
        "shared-has-2",
        "shared-c",
    ];
    let items: Vec<Value> = users.iter().map(|user| item(user, &shared)).collect();
    let id = accepted(
        app.post_import(&json!({"items": items, "mode": "missing"}))
            .await,
    )
    .await;
    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(counts(&done), [0, 0, 3, 0, 2, 0], "{done}");
    assert_eq!(origin.hits("/image/shared"), 1);
}

#[tokio::test]
async fn the_later_item_and_then_the_users_own_upload_win() {
    let app = TestApp::spawn().await;
    let small = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let large = source_server::start(images::png(800, 800), Duration::from_millis(1500)).await;

    // One user twice: the later item wins, though the earlier is slower.
    let items = json!([
        item("twice", format!("{large}/slow")),
        item("twice", format!("{small}/image")),
    ]);
    let id = accepted(app.post_import(&json!({"items": items})).await).await;
    add_up(app.import_outcome(&id).await);
    let current = app.current_avatar("anyone", "twice").await;
    assert_eq!(app.stored_avatar(&current).await.width, 64, "{current}");

    // The user's own upload after the import wins over the import's item
    // that finishes after it.
    let items = json!([item("own", format!("{large}/slow/own"))]);
    let id = accepted(app.post_import(&json!({"items": items})).await).await;
    let response = app
        .put_bytes("own", "me", "?wait=10", images::png(100, 100))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(done["completed"], 1, "{done}");
    let current = app.current_avatar("anyone", "own").await;
    assert_eq!(app.stored_avatar(&current).await.width, 100, "{current}");
}

#[tokio::test]
async fn one_url_named_by_many_items_is_fetched_once() {
    let app = TestApp::spawn().await;
    let origin = source_server::start(photo(), Duration::ZERO).await;
    let shared = format!("{origin}/image/default-picture");
    let items: Vec<Value> = (0..40)
        .map(|n| match n % 3 {
            0 => item(&format!("own-{n}"), format!("{origin}/image/{n}")),
            _ => item(&format!("default-{n}"), &shared),
        })
        .collect();
    let id = accepted(app.post_import(&json!({"items": items})).await).await;
    let done = add_up(app.import_outcome(&id).await);
    let failures = app.get_import(&id, "/failures").await;
    assert_eq!(done["completed"], 40, "{done} {failures}");
    assert_eq!(origin.hits("/image/default-picture"), 1);

    let mut urls = std::collections::HashSet::new();
    for n in (0..40).filter(|n| n % 3 != 0) {
        let current = app.current_avatar("anyone", &format!("default-{n}")).await;
        let url = current["avatarUrl"].as_str().expect("an avatar").to_owned();
        assert!(url.contains(&format!("/default-{n}/")), "{url}");
        let info = app.stored_avatar(&current).await;
        assert_eq!((info.width, info.height), (512, 512));
        urls.insert(url);
    }
    assert_eq!(urls.len(), 26, "each user has an object of their own");
}

#[tokio::test]
async fn fetches_of_an_import_to_one_host_stay_within_the_per_host_limit() {
    let app = TestApp::builder()
        .in_process_workers(4)
        .env("AVATARS_FETCH_PER_HOST_CONCURRENCY", "2")
        .env("AVATARS_USER_MAX_RUNNING", "0")
        .start()
        .await;
    let origin = source_server::start(images::png(64, 64), Duration::from_millis(300)).await;
    let items: Vec<Value> = (0..12)
        .map(|n| item(&format!("host-{n}"), format!("{origin}/slow/{n}")))
        .collect();
    let id = accepted(app.post_import(&json!({"items": items})).await).await;
    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(done["completed"], 12, "{done}");
    assert_eq!(origin.peak(), 2, "four slots, two permits for the host");
}

#[tokio::test]
async fn a_cancelled_import_starts_nothing_more_and_its_counts_still_add_up() {
    // One job at a time: one conversion slot and one more job held.
    let app = TestApp::builder()
        .in_process_workers(1)
        .env("AVATARS_FETCHES_IN_FLIGHT", "1")
        .start()
        .await;
    let origin = source_server::start(images::png(64, 64), Duration::from_millis(500)).await;
    let items: Vec<Value> = (0..20)
        .map(|n| item(&format!("cancel-{n}"), format!("{origin}/slow/{n}")))
        .collect();
    let id = accepted(app.post_import(&json!({"items": items})).await).await;
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        "no item started",
        || async {
            match origin.hits_under("/slow/") {
                0 => Err("none yet".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;

    let response = app.cancel_import(&id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled = add_up(response.json().await.expect("json"));
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["queued"], 0, "{cancelled}");
    assert!(cancelled["cancelled"].as_u64() >= Some(18), "{cancelled}");

    let done = add_up(app.import_outcome(&id).await);
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["processing"], 0);
    let ran = done["completed"].as_u64().expect("completed");
    assert_eq!(ran + done["cancelled"].as_u64().expect("cancelled"), 20);
    // Give the worker time to reach the cancelled items: it skips them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(origin.hits_under("/slow/") as u64, ran, "{done}");
}

#[tokio::test]
async fn import_routes_refuse_what_they_cannot_take_saying_what_to_fix() {
    let app = TestApp::builder()
        .env("AVATARS_IMPORT_MAX_ITEMS", "3")
        .start()
        .await;
    let origin = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let url = |n: u32| format!("{origin}/image/{n}");
    let post_as = |token: String, body: Value| {
        app.client
            .post(app.url("/api/public/imports"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };

    let one = json!({"items": [item("u1", url(1))]});
    let message = assert_error(
        post_as(app.token("plain"), one.clone())
            .await
            .expect("sent"),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(message.contains("avatars:admin"), "{message}");
    let four: Vec<Value> = (0..4).map(|n| item(&format!("u{n}"), url(n))).collect();
    let message = assert_error(
        app.post_import(&json!({"items": four})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(message.contains("at most 3 items"), "{message}");
    let lines: String = (0..4)
        .map(|n| format!("{}\n", item(&format!("u{n}"), url(n))))
        .collect();
    assert_error(
        app.post_import_ndjson("", lines).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    for body in [json!({"items": []}), json!({"item": []}), json!([1])] {
        assert_error(
            app.post_import(&body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    assert_error(
        app.post_import_ndjson("", "\n\n").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_import_ndjson("?mode=sometimes", "{}\n").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let response = app
        .client
        .post(app.url("/api/public/imports"))
        .bearer_auth(app.admin_token("importer"))
        .header("content-type", "text/csv")
        .body("userId,avatarUrl\n")
        .send()
        .await
        .expect("sent");
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let unknown = ulid::Ulid::generate().to_string();
    for path in [format!("/{unknown}"), format!("/{unknown}/failures")] {
        let response = app
            .client
            .get(app.url(&format!("/api/public/imports{path}")))
            .bearer_auth(app.admin_token("importer"))
            .send()
            .await
            .expect("sent");
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = app
        .client
        .get(app.url("/api/public/imports/not-an-id"))
        .bearer_auth(app.admin_token("importer"))
        .send()
        .await
        .expect("sent");
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app
        .client
        .get(app.url(&format!("/api/public/imports/{unknown}")))
        .bearer_auth(app.token("plain"))
        .send()
        .await
        .expect("sent");
    assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn an_ended_import_expires_like_a_job_record() {
    let app = TestApp::builder()
        .env("AVATARS_JOB_TTL_SECS", "1")
        .start()
        .await;
    let origin = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let items = json!([item("ttl-1", format!("{origin}/missing"))]);
    let id = accepted(app.post_import(&json!({"items": items})).await).await;
    add_up(app.import_outcome(&id).await);
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(200),
        "the import record did not expire",
        || async {
            let import = app.get_import(&id, "").await;
            match import["error"]["code"].as_str() {
                Some("not_found") => Ok(()),
                _ => Err(import.to_string()),
            }
        },
    )
    .await;
}

/// The API process's peak resident memory so far, in KiB.
fn peak_kib(app: &mut TestApp) -> u64 {
    let pid = app.api().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn a_json_import_over_the_item_limit_is_refused_before_its_items_are_built() {
    let mut app = TestApp::spawn().await;
    // 16 million items in 32 MB, each the smallest JSON value.
    let mut body = String::from("{\"items\": [0");
    body += &",0".repeat(16_000_000);
    body += "]}";
    let body_mb = body.len() / 1_000_000;
    let before = peak_kib(&mut app);
    let response = app
        .client
        .post(app.url("/api/public/imports"))
        .bearer_auth(app.admin_token("importer"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request failed");
    let message = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(message.contains("items"), "{message}");
    // The body itself, and little more: built, the items took 550 MB.
    let grown_mb = peak_kib(&mut app).saturating_sub(before) / 1024;
    eprintln!("the API grew by {grown_mb} MB for a {body_mb} MB body");
    assert!(grown_mb < 120, "the API grew by {grown_mb} MB");
}

/// The keys of `app`'s deployment whose names start with `rest`.
async fn keys_under(app: &TestApp, rest: &str) -> Vec<String> {
    let mut redis = app.redis().await;
    let pattern = format!("{}*", app.key(rest))
        .replace('{', "\\{")
        .replace('}', "\\}");
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut redis)
        .await
        .expect("KEYS")
}

#[tokio::test]
async fn an_import_over_a_limit_is_refused_whole_and_stores_nothing() {
    let app = TestApp::builder()
        .env("AVATARS_IMPORT_MAX_ITEMS", "100")
        .env("AVATARS_IMPORT_MAX_BYTES", "20000")
        .start()
        .await;
    // One item too many, every one junk: before, the first hundred stayed
    // as failures for seven days.
    let junk: String = (0..101).map(|n| format!("junk line {n}\n")).collect();
    let response = app.post_import_ndjson("", junk).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // A body over the byte limit, its first lines valid.
    let big: String = (0..400)
        .map(|n| format!("{}\n", item(&format!("u{n}"), "https://example.com/a.png")))
        .collect();
    assert!(big.len() > 20_000);
    let response = app.post_import_ndjson("", big).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(keys_under(&app, "import").await, Vec::<String>::new());
    assert_eq!(keys_under(&app, "job:").await, Vec::<String>::new());
    // Within the limits, an import is taken.
    let fine: String = (0..100).map(|n| format!("junk line {n}\n")).collect();
    let id = accepted(app.post_import_ndjson("", fine).await).await;
    assert_eq!(app.import_outcome(&id).await["failed"], 100);
}

#[tokio::test]
async fn failures_are_clipped_and_past_ten_thousand_only_counted() {
    let app = TestApp::spawn().await;
    let kept = avatar_common::imports::FAILURES_KEPT;
    let long_user = "u".repeat(10_000);
    let mut body = String::new();
    for n in 0..kept + 50 {
        let user = if n == 0 {
            long_user.as_str()
        } else {
            "not a user"
        };
        body += &format!("{}\n", item(user, format!("ftp://x/{n}")));
    }
    let id = accepted(app.post_import_ndjson("", body).await).await;
    let outcome = app.import_outcome(&id).await;
    assert_eq!(outcome["failed"], kept + 50, "{outcome}");
    assert_eq!(outcome["total"], kept + 50, "{outcome}");
    let first = app.get_import(&id, "/failures?limit=1").await;
    let user = first["items"][0]["userId"].as_str().expect("userId");
    assert!(
        user.len() <= 515 && user.ends_with("..."),
        "{} bytes",
        user.len()
    );
    let message = first["items"][0]["error"]["message"]
        .as_str()
        .expect("message");
    assert!(message.len() <= 515, "{} bytes", message.len());
    let listed = all_failures(&app, &id, 1000).await;
    assert_eq!(listed.len() as u64, kept);
    assert_eq!(listed.last().expect("one")["index"], kept - 1);
}

#[tokio::test]
async fn an_accepted_item_costs_redis_under_a_kilobyte() {
    // No workers: the items stay as they were accepted.
    let app = TestApp::builder().in_process_workers(0).start().await;
    const ITEMS: usize = 1000;
    let mut body = String::new();
    for i in 0..ITEMS {
        let url = format!("https://images.example.com/avatars/{i:08}/");
        let url = format!("{url}{}", "p".repeat(100 - url.len()));
        body += &json!({"userId": format!("footprint-{i}"), "avatarUrl": url}).to_string();
        body.push('\n');
    }
    accepted(app.post_import_ndjson("", body).await).await;
    let mut redis = app.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(app.key("*"))
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    let mut bytes = 0u64;
    for key in &keys {
        let usage: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query_async(&mut redis)
            .await
            .expect("MEMORY USAGE");
        bytes += usage.unwrap_or(0);
    }
    // Its stream entry, its URL in the import's index and its user's
    // stamp; no job record until a worker takes it.
    let records = keys.iter().filter(|k| k.contains(":job:")).count();
    assert_eq!(records, 0, "job records of items not yet taken: {keys:?}");
    let per_item = bytes / ITEMS as u64;
    eprintln!("{per_item} bytes of Redis an accepted item");
    assert!(per_item < 1024, "{per_item} bytes an item");
}

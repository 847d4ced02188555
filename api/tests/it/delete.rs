//! `DELETE /user/{USER_ID}/avatar`: who may, what goes (every object of
//! every avatar of the user, and the staged uploads of the jobs accepted
//! before it), `avatar.deleted`, and which jobs may still make an avatar
//! current afterwards.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::receiver::{Behaviour, Receiver};
use crate::support::{TestApp, assert_error, eventually, images, s3, source_server};
use crate::webhooks::with_webhooks;

/// The keys of the bucket that hold avatars of `user`, and those that hold
/// their staged uploads.
async fn objects_of(app: &TestApp, user: &str) -> (Vec<String>, Vec<String>) {
    let keys = s3::keys(app.bucket.as_deref().expect("bucket")).await;
    let avatars = keys
        .iter()
        .filter(|k| k.contains(&format!("/userAvatars/{user}/")))
        .cloned()
        .collect();
    let staged = keys
        .into_iter()
        .filter(|k| k.starts_with(&format!("staging/{user}/")))
        .collect();
    (avatars, staged)
}

/// Waits until nothing of `user`'s is left in the bucket.
async fn all_gone(app: &TestApp, user: &str) {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        "every object of the user's to be deleted",
        || async {
            match objects_of(app, user).await {
                (avatars, staged) if avatars.is_empty() && staged.is_empty() => Ok(()),
                left => Err(format!("{left:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_delete_removes_every_avatar_of_the_user_at_once() {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&receiver)
        .env("AVATARS_SIZES", "512,64")
        .start()
        .await;
    let first: Value = app
        .put_bytes("dora", "me", "", images::png(300, 300))
        .await
        .json()
        .await
        .expect("json");
    let second: Value = app
        .put_bytes("dora", "me", "", images::jpeg(300, 300))
        .await
        .json()
        .await
        .expect("json");
    // The first is kept for its retention (an hour), the second current:
    // two avatars of two sides each.
    assert_eq!(objects_of(&app, "dora").await.0.len(), 4);
    receiver.wait_accepted(2, Duration::from_secs(30)).await;

    let deleted = app.delete_avatar(&app.token("dora"), "me").await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_avatar("dora", "dora").await.status(),
        StatusCode::NOT_FOUND
    );
    all_gone(&app, "dora").await;
    for answer in [&first, &second] {
        for url in answer["avatarUrls"].as_object().expect("urls").values() {
            let gone = app.download(url.as_str().expect("a URL")).await;
            assert_eq!(gone.status(), StatusCode::NOT_FOUND, "{url}");
        }
    }
    let events = receiver.wait_accepted(3, Duration::from_secs(30)).await;
    let event = events[2].json();
    assert_eq!(event["type"], "avatar.deleted", "{event}");
    assert_eq!(event["data"], serde_json::json!({"userId": "dora"}));

    // Again, with nothing left: 204, and no second event.
    let again = app.delete_avatar(&app.token("dora"), "dora").await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    // An update after the delete becomes current.
    let after = app.put_bytes("dora", "me", "", images::png(200, 200)).await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(
        app.get_avatar("dora", "dora").await.status(),
        StatusCode::OK
    );
    let events = receiver.wait_accepted(4, Duration::from_secs(30)).await;
    assert_eq!(
        events[3].json()["type"],
        "avatar.updated",
        "only one avatar.deleted"
    );
}

#[tokio::test]
async fn only_the_user_or_an_admin_may_delete_an_avatar() {
    let app = TestApp::spawn().await;
    let put = app.put_bytes("erin", "me", "", images::png(100, 100)).await;
    assert_eq!(put.status(), StatusCode::OK);
    let refused = app.delete_avatar(&app.token("mallory"), "erin").await;
    let message = assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(message.contains("avatars:admin"), "{message}");
    let unauthenticated = app
        .client
        .delete(app.url("/api/public/user/erin/avatar"))
        .send()
        .await
        .expect("sent");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let bad = app
        .delete_avatar(&app.token("erin"), "not%20a%20user")
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(
        app.get_avatar("erin", "erin").await.status(),
        StatusCode::OK
    );
    let admin = app.delete_avatar(&app.admin_token("ops"), "erin").await;
    assert_eq!(admin.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_avatar("erin", "erin").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_job_accepted_before_a_delete_never_makes_an_avatar_current() {
    let app = TestApp::builder()
        .env("AVATARS_SIZES", "512,64")
        .start()
        .await;
    // A URL that takes two seconds to answer: the job is running when the
    // delete comes.
    let origin = source_server::start(images::png(300, 300), Duration::from_secs(2)).await;
    let url = format!("{origin}/image");
    let running: Value = app
        .put_url("finn", "me", "?wait=0", &url)
        .await
        .json()
        .await
        .expect("json");
    let job = running["jobId"].as_str().expect("id").to_owned();
    let deleted = app.delete_avatar(&app.token("finn"), "me").await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let done = app.job_outcome("finn", &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        app.get_avatar("finn", "finn").await.status(),
        StatusCode::NOT_FOUND
    );
    // Its avatar, made after the delete, goes at once too.
    all_gone(&app, "finn").await;
    // A job accepted after the delete does become current.
    let later = app.put_url("finn", "me", "?wait=20", &url).await;
    assert_eq!(later.status(), StatusCode::OK);
    assert_eq!(
        app.get_avatar("finn", "finn").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_delete_removes_the_staged_uploads_of_jobs_accepted_before_it() {
    let mut app = TestApp::builder().in_process_workers(0).start().await;
    // One job at a time, and ahead of the user's, another's whose source
    // takes three seconds: the worker's upkeep finds the delete first.
    let origin = source_server::start(images::png(100, 100), Duration::from_secs(3)).await;
    let ahead = app
        .put_url("hana", "me", "?wait=0", &format!("{origin}/image"))
        .await;
    assert_eq!(ahead.status(), StatusCode::ACCEPTED);
    let queued: Value = app
        .put_bytes("gail", "me", "?wait=0", images::png(300, 300))
        .await
        .json()
        .await
        .expect("json");
    let job = queued["jobId"].as_str().expect("id").to_owned();
    let (_, staged) = objects_of(&app, "gail").await;
    assert_eq!(
        staged.len(),
        1,
        "the upload waits under staging/gail/: {staged:?}"
    );
    let deleted = app.delete_avatar(&app.token("gail"), "me").await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    app.add_worker_with(&[
        ("AVATARS_CONCURRENCY", "1"),
        ("AVATARS_FETCHES_IN_FLIGHT", "0"),
    ]);
    all_gone(&app, "gail").await;
    let ended = app.job_outcome("gail", &job).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    let message = ended["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("deleted"), "{message}");
    assert_eq!(
        app.get_avatar("gail", "gail").await.status(),
        StatusCode::NOT_FOUND
    );
}

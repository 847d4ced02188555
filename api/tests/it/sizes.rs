//! `AVATARS_SIZES`: every side stored beside the avatar from one job,
//! listed in `avatarUrls` with the `placeholder` on every answer that
//! names the avatar and in `avatar.updated`, copied for an import's
//! repeated URL, and deleted together when superseded.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::images::{AvatarInfo, encode, inspect};
use crate::support::receiver::{Behaviour, Receiver};
use crate::support::{TestApp, s3, source_server};
use crate::webhooks::with_webhooks;

const SIZES: &str = "512,256,128,64";
const RED: [u8; 3] = [230, 20, 20];
const BLUE: [u8; 3] = [20, 20, 230];

/// A 900 x 700 picture, red above and blue below.
fn halves() -> Vec<u8> {
    let image = RgbImage::from_fn(900, 700, |_, y| Rgb(if y < 350 { RED } else { BLUE }));
    encode(&DynamicImage::ImageRgb8(image), ImageFormat::Png)
}

/// Every `avatarUrls` entry downloaded: its side and what it holds.
async fn sides(app: &TestApp, answer: &Value) -> BTreeMap<u32, AvatarInfo> {
    let urls = answer["avatarUrls"]
        .as_object()
        .unwrap_or_else(|| panic!("no avatarUrls in {answer}"));
    let mut sides = BTreeMap::new();
    for (side, url) in urls {
        let download = app.download(url.as_str().expect("a URL")).await;
        assert_eq!(download.status(), StatusCode::OK, "{url}");
        let info = inspect(&download.bytes().await.expect("body"));
        sides.insert(side.parse().expect("a side"), info);
    }
    sides
}

/// The colours of the decoded placeholder: its top and its bottom row.
fn placeholder_colours(answer: &Value) -> ([f64; 3], [f64; 3]) {
    let text = answer["placeholder"]
        .as_str()
        .unwrap_or_else(|| panic!("no placeholder in {answer}"));
    let hash = BASE64_STANDARD.decode(text).expect("base64");
    assert!(
        hash.len() <= 32,
        "a ThumbHash is a few dozen bytes: {}",
        hash.len()
    );
    let (width, height, rgba) = thumbhash::thumb_hash_to_rgba(&hash).expect("a ThumbHash");
    let row = |y: usize| {
        let mut sum = [0.0; 3];
        for x in 0..width {
            for c in 0..3 {
                sum[c] += f64::from(rgba[(y * width + x) * 4 + c]);
            }
        }
        sum.map(|s| s / width as f64)
    };
    (row(0), row(height - 1))
}

fn near(got: [f64; 3], want: [u8; 3], tolerance: f64) -> bool {
    got.iter()
        .zip(want)
        .all(|(g, w)| (g - f64::from(w)).abs() < tolerance)
}

#[tokio::test]
async fn every_side_is_stored_and_named_with_the_placeholder_on_every_answer() {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&receiver)
        .env("AVATARS_SIZES", SIZES)
        .start()
        .await;
    let response = app.put_bytes("sized", "me", "?wait=20", halves()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let put: Value = response.json().await.expect("json");

    let made = sides(&app, &put).await;
    assert_eq!(
        made.keys().copied().collect::<Vec<_>>(),
        [64, 128, 256, 512]
    );
    for (side, info) in &made {
        assert_eq!((info.width, info.height), (*side, *side));
        assert!(info.progressive && !info.has_exif, "{side}: {info:?}");
        // Red above, blue below: the mean is halfway at every side.
        let halfway = [125.0, 20.0, 125.0];
        assert!(
            info.mean_rgb
                .iter()
                .zip(halfway)
                .all(|(m, h)| (m - h).abs() < 15.0),
            "{side}: {:?}",
            info.mean_rgb
        );
    }
    assert_eq!(put["avatarUrls"]["512"], put["avatarUrl"]);
    let (top, bottom) = placeholder_colours(&put);
    assert!(near(top, RED, 70.0), "the placeholder's top is {top:?}");
    assert!(
        near(bottom, BLUE, 70.0),
        "the placeholder's bottom is {bottom:?}"
    );

    // The same avatar, sides and placeholder on every other answer.
    let current = app.current_avatar("reader", "sized").await;
    let job = app
        .job_outcome("sized", put["jobId"].as_str().expect("id"))
        .await;
    let event = receiver.wait_accepted(1, Duration::from_secs(30)).await[0].json();
    assert_eq!(event["type"], "avatar.updated");
    for answer in [&current, &job, &event["data"]] {
        for field in ["avatarUrl", "avatarUrls", "placeholder"] {
            assert_eq!(answer[field], put[field], "{field} of {answer}");
        }
    }

    // Four objects, all in the avatar's own folder.
    let keys = s3::keys(app.bucket.as_deref().expect("bucket")).await;
    let folder = put["avatarUrl"]
        .as_str()
        .expect("url")
        .rsplit_once('/')
        .expect("a key")
        .0;
    assert_eq!(keys.len(), 4, "{keys:?}");
    for key in &keys {
        assert!(
            folder.ends_with(key.rsplit_once('/').expect("a folder").0),
            "{key} beside {folder}"
        );
    }
}

#[tokio::test]
async fn a_superseded_avatar_is_deleted_with_every_side() {
    let app = TestApp::builder()
        .env("AVATARS_SIZES", SIZES)
        .env("AVATARS_SUPERSEDED_RETENTION_SECS", "1")
        .start()
        .await;
    let first: Value = app
        .put_bytes("twice", "me", "", halves())
        .await
        .json()
        .await
        .expect("json");
    let second: Value = app
        .put_bytes("twice", "me", "", halves())
        .await
        .json()
        .await
        .expect("json");
    let bucket = app.bucket.clone().expect("bucket");
    let second_folder = second["avatarUrl"]
        .as_str()
        .expect("url")
        .rsplit_once('/')
        .expect("key")
        .0
        .to_owned();
    s3::keys_once(
        &bucket,
        |keys| {
            keys.len() == 4
                && keys
                    .iter()
                    .all(|k| second_folder.ends_with(k.rsplit_once('/').map_or("", |(f, _)| f)))
        },
        "every side of the superseded avatar to go, and only those",
    )
    .await;
    for url in first["avatarUrls"].as_object().expect("urls").values() {
        let gone = app.download(url.as_str().expect("url")).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND, "{url}");
    }
    assert_eq!(sides(&app, &second).await.len(), 4);
}

#[tokio::test]
async fn import_items_of_one_url_each_get_every_side() {
    let app = TestApp::builder().env("AVATARS_SIZES", SIZES).start().await;
    let origin = source_server::start(halves(), Duration::ZERO).await;
    let url = format!("{origin}/image");
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"userId": format!("imported-{i}"), "avatarUrl": url}))
        .collect();
    let response = app.post_import(&json!({ "items": items })).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.expect("json");
    let import = app
        .import_outcome(accepted["importId"].as_str().expect("id"))
        .await;
    assert_eq!(import["completed"], 3, "{import}");
    let mut placeholders = Vec::new();
    for i in 0..3 {
        let current = app.current_avatar("reader", &format!("imported-{i}")).await;
        let made = sides(&app, &current).await;
        assert_eq!(
            made.keys().copied().collect::<Vec<_>>(),
            [64, 128, 256, 512],
            "{current}"
        );
        for (side, info) in made {
            assert_eq!(info.width, side);
        }
        placeholders.push(current["placeholder"].clone());
    }
    assert!(placeholders[0].is_string());
    assert!(
        placeholders.iter().all(|p| *p == placeholders[0]),
        "{placeholders:?}"
    );
    assert_eq!(origin.hits("/image"), 1, "the URL was fetched once");
}

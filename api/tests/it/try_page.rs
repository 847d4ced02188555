//! The try page (`AVATARS_TRY_PAGE`): off by default, its token route only
//! with `AVATARS_TRY_PAGE_DEV_TOKENS`, and used in a real Chromium driven
//! by Playwright (`api/tests/browser/try_page.mjs`): a made-up user's
//! token, a picture, a crop box dragged and resized, the upload, the
//! avatar at every size with its placeholder, and the delete; then a
//! phone's HEIC, which Chromium cannot show, uploaded without a preview.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;
use crate::support::images::difference_from;

#[tokio::test]
async fn the_try_page_is_served_only_when_asked() {
    let off = TestApp::spawn().await;
    let page = off
        .client
        .get(off.url("/try"))
        .send()
        .await
        .expect("GET /try");
    assert_eq!(page.status(), StatusCode::NOT_FOUND);

    let on = TestApp::builder()
        .env("AVATARS_TRY_PAGE", "true")
        .start()
        .await;
    let page = on
        .client
        .get(on.url("/try"))
        .send()
        .await
        .expect("GET /try");
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"data-dev-tokens="false""#), "{html}");
    for file in ["/try/try.js", "/try/try.css"] {
        let answer = on
            .client
            .get(on.url(file))
            .send()
            .await
            .expect("a page file");
        assert_eq!(answer.status(), StatusCode::OK, "{file}");
    }
    let token = on
        .client
        .post(on.url("/try/token"))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        token.status(),
        StatusCode::NOT_FOUND,
        "no made-up users without the setting"
    );
}

#[tokio::test]
async fn a_made_up_users_token_acts_as_that_user_alone() {
    let app = TestApp::builder()
        .env("AVATARS_TRY_PAGE", "true")
        .env("AVATARS_TRY_PAGE_DEV_TOKENS", "true")
        .start()
        .await;
    let made: Value = app
        .client
        .post(app.url("/try/token"))
        .send()
        .await
        .expect("POST /try/token")
        .json()
        .await
        .expect("json");
    let (token, user) = (
        made["token"].as_str().expect("token"),
        made["userId"].as_str().expect("userId"),
    );
    assert!(user.starts_with("try-"), "{made}");
    let own = app.get_avatar_with(token, user).await;
    assert_eq!(
        own.status(),
        StatusCode::NOT_FOUND,
        "a new user has no avatar yet"
    );
    let other = app.delete_avatar(token, "someone-else").await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

/// Chromium and Playwright, or why the browser test cannot run here.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    if !chromium.is_file() {
        return Err(format!(
            "{} is not installed (apt-get install chromium)",
            chromium.display()
        ));
    }
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !scripts.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "playwright-core is not installed (npm ci in {})",
            scripts.display()
        ));
    }
    Ok((chromium, scripts))
}

#[tokio::test]
async fn in_a_browser_the_try_page_uploads_the_square_chosen_and_deletes_it() {
    let (chromium, scripts) = match browser() {
        Ok(found) => found,
        Err(why) => {
            eprintln!("skipped: the try page's browser test needs Chromium and Playwright: {why}");
            return;
        }
    };
    let app = TestApp::builder()
        .env("AVATARS_TRY_PAGE", "true")
        .env("AVATARS_TRY_PAGE_DEV_TOKENS", "true")
        .env("AVATARS_SIZES", "512,256,128,64")
        .start()
        .await;
    let picture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipeline/tests/fixtures/faces/astronaut-right-of-a-cat.jpg");
    // Beside the processes' logs; docs/try-page.png is such a screenshot,
    // taken with AVATARS_TRY_SCREENSHOT naming it.
    let screenshot = std::env::var("AVATARS_TRY_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| app.logs.join("try-page.png"));
    let avatar_file = app.logs.join("avatar.jpg");
    // And a phone's HEIC, which Chromium cannot show, from the corpus.
    let heic = avatar_testkit::corpus::dir("the try page's HEIC upload")
        .map(|corpus| corpus.join("heic/pillowheif_arrow_iphone8plus.heic"));
    let run = tokio::task::spawn_blocking({
        let (base, picture, screenshot, avatar_file) = (
            app.url(""),
            picture.clone(),
            screenshot.clone(),
            avatar_file.clone(),
        );
        move || {
            Command::new("node")
                .current_dir(&scripts)
                .env("CHROMIUM", &chromium)
                .arg("try_page.mjs")
                .arg(base.trim_end_matches('/'))
                .args([&picture, &screenshot, &avatar_file])
                .args(heic)
                .output()
                .expect("node runs")
        }
    })
    .await
    .expect("the browser run");
    assert!(
        run.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let seen: Value = serde_json::from_slice(&run.stdout).expect("the run prints JSON");
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "the page logged errors: {seen}"
    );

    // The page sent the square it showed: shrunk to 70 % of the picture's
    // height, dragged to the top right corner.
    let crop: Vec<f64> = seen["crop"]
        .as_str()
        .expect("crop")
        .split(',')
        .map(|n| n.parse().expect("a number"))
        .collect();
    let [left, top, width, height] = crop[..] else {
        panic!("the crop is four numbers: {seen}");
    };
    assert!(
        top == 0.0 && (left + width - 1.0).abs() < 0.01,
        "not at the top right: {crop:?}"
    );
    assert!((0.6..0.8).contains(&height), "not shrunk to 70 %: {crop:?}");

    // Every size, each painted with the placeholder first.
    let sides: Vec<u64> = seen["shown"]
        .as_array()
        .expect("shown")
        .iter()
        .map(|s| s["side"].as_u64().expect("side"))
        .collect();
    assert_eq!(sides, [512, 256, 128, 64], "{seen}");
    for shown in seen["shown"].as_array().expect("shown") {
        assert_eq!(shown["placeholderPainted"], true, "{shown}");
    }
    let statuses = seen["statuses"].as_array().expect("statuses");
    assert!(
        statuses.iter().any(|s| s == "completed"),
        "the page did not watch the job: {seen}"
    );

    // The avatar is that square of the picture, not its centre.
    let source = image::open(&picture).expect("the picture decodes");
    let side = (height * 512.0).round() as u32;
    let square_left = ((left * 1280.0).round() as u32).min(1280 - side);
    let avatar = std::fs::read(&avatar_file).expect("the avatar the page showed");
    let chosen = difference_from(&avatar, &source, square_left, 0, side);
    let centre = difference_from(&avatar, &source, (1280 - 512) / 2, 0, 512);
    assert!(
        chosen < 6.0 && centre > 30.0,
        "from the square chosen {chosen:.1}, from the centre {centre:.1}"
    );

    // Deleted: the user has no avatar, and its address no longer serves.
    assert!(
        seen["afterDelete"]
            .as_str()
            .is_some_and(|s| s.starts_with("Deleted")),
        "{seen}"
    );
    let (token, user) = (
        seen["token"].as_str().expect("token"),
        seen["user"].as_str().expect("user"),
    );
    assert_eq!(
        app.get_avatar_with(token, user).await.status(),
        StatusCode::NOT_FOUND
    );
    let url = seen["shown"][0]["src"].as_str().expect("src");
    assert_eq!(app.download(url).await.status(), StatusCode::NOT_FOUND);

    // The HEIC: no preview, so no crop box, and every size made all the same.
    if !seen["phone"].is_null() {
        let phone = &seen["phone"];
        assert!(
            phone["said"]
                .as_str()
                .is_some_and(|s| s.starts_with("none")),
            "{phone}"
        );
        assert_eq!(
            phone["sides"],
            serde_json::json!([512, 256, 128, 64]),
            "{phone}"
        );
    }
}

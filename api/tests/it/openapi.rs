//! The OpenAPI document as the running service serves it: valid (checked by
//! `openapi-spec-validator`), every operation in it routed, `/docs` whole
//! without anything from outside, and `schemathesis` finding no server
//! error and no answer outside the document, as an admin and as a user.

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;
use crate::support::app::print_log_tails;

/// A Python tool from PyPI that `scripts/install-deps` installs.
fn python_tool(name: &str) -> Command {
    let found = Command::new(name)
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is not installed: run scripts/install-deps (it runs `pip install schemathesis openapi-spec-validator`)"
    );
    Command::new(name)
}

async fn served_document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

/// `template` with each `{param}` given a value of the right shape.
fn filled(template: &str) -> String {
    template
        .replace("{user_id}", "alice")
        .replace("{job_id}", "01J9Z3G6TQ5V8X2M4N7P0R1S2T")
        .replace("{import_id}", "01J9Z3G6TQ5V8X2M4N7P0R1S2T")
}

#[tokio::test]
async fn the_served_document_is_valid_and_names_exactly_the_routes_that_answer() {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await;
    let file = app.logs.join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write the document");
    let validation = python_tool("openapi-spec-validator")
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        validation.status.success(),
        "openapi-spec-validator refused the document: {}{}",
        String::from_utf8_lossy(&validation.stdout),
        String::from_utf8_lossy(&validation.stderr)
    );

    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 11, "{:?}", paths.keys());
    let methods = [
        Method::GET,
        Method::PUT,
        Method::POST,
        Method::DELETE,
        Method::PATCH,
    ];
    for (template, item) in paths {
        let url = app.url(&filled(template));
        for method in &methods {
            let documented = item.get(method.as_str().to_ascii_lowercase()).is_some();
            let response = app
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .expect("request");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no such route")));
            if documented {
                assert!(
                    !unrouted,
                    "{method} {template} is in the document but the service answers {status} {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template} is not in the document but the service answers {status} {body}"
                );
                assert_eq!(body["error"]["code"], "method_not_allowed");
            }
        }
    }
}

#[tokio::test]
async fn the_docs_page_loads_only_files_of_the_service() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("text");
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            let target = piece.split('"').next().unwrap_or_default();
            assert!(
                !target.contains("//"),
                "/docs loads {target} from outside the service"
            );
            assets.push(target.trim_start_matches("./").to_owned());
        }
    }
    assert!(
        assets.iter().any(|a| a == "swagger-ui-bundle.js"),
        "{assets:?}"
    );
    for asset in &assets {
        let response = app
            .client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "/docs/{asset}");
    }
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        initializer.contains("\"url\": \"/openapi.json\""),
        "{initializer}"
    );
    // Swagger UI would otherwise show a badge fetched from swagger.io.
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
}

/// Runs schemathesis against the service with `token`, its report in
/// `report`; the report on failure.
fn schemathesis(app: &TestApp, token: &str, report: &Path) {
    let output = python_tool("schemathesis")
        .args([
            "run",
            &app.url("/openapi.json"),
            "--url",
            &app.address,
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--max-examples",
            "30",
            "--workers",
            "1",
            "--request-timeout",
            "40",
            "--seed",
            "1",
            "--no-color",
        ])
        // Its cache of found failures goes with the test's logs, not into
        // the package's folder.
        .current_dir(&app.logs)
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(report, &text).expect("write the report");
    if !output.status.success() {
        print_log_tails(&app.logs);
        panic!("schemathesis found problems:\n{text}");
    }
    assert!(text.contains("passed"), "{text}");
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let app = TestApp::builder()
        .in_process_workers(1)
        // Every URL schemathesis makes up is refused before any connection:
        // only 127.0.0.1 is allowed, and private addresses are not.
        .env("AVATARS_ALLOW_PRIVATE_SOURCES", "false")
        .env("AVATARS_FETCH_ALLOWED_HOSTS", "127.0.0.1")
        // Enough that the PUTs are tested beyond their rate limit.
        .env("AVATARS_USER_RATE_PER_MINUTE", "100000")
        .env("AVATARS_USER_RATE_BURST", "100000")
        .start()
        .await;
    schemathesis(
        &app,
        &app.admin_token("admin"),
        &app.logs.join("schemathesis-admin.txt"),
    );
    schemathesis(
        &app,
        &app.token("alice"),
        &app.logs.join("schemathesis-user.txt"),
    );
}

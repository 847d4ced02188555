//! The OpenAPI 3.1 document of the API, served at `/openapi.json`, and the
//! page at `/docs` that shows it.
//!
//! The document is generated from the code: every route is registered
//! through `utoipa_axum`'s `routes!`, which takes the method and path from
//! the handler's `#[utoipa::path]` attribute, so a route and its entry are
//! one declaration (see [`crate::routes::table`]). What holds for every
//! operation (the `X-Request-Id` header, the error shape of any other
//! status) is added here once, and so are the webhook events, which utoipa
//! has no attribute for: they go into the document's `webhooks` object.
//!
//! `/docs` is Swagger UI from `utoipa-swagger-ui` with its `vendored`
//! feature: its files come from a crate on crates.io and are built into the
//! binary, so the page loads nothing from outside the service (its online
//! validator badge is turned off). Scalar and Redoc, as `utoipa` packages
//! them, load their script from a CDN.

use serde_json::{Value, json};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, ObjectBuilder, RefOr, Required, Type};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use avatar_common::request_id::MAX_REQUEST_ID_LEN;

use crate::body;

/// The request id's header as the document names it.
const REQUEST_ID: &str = "X-Request-Id";

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// Where the page that shows it is served.
pub const PAGE_PATH: &str = "/docs";

/// The name of the bearer scheme in the document.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Avatar service",
        description = "Turns whatever picture a user hands over into a small square JPEG avatar in object storage, and tells the client where it is. Routes under `/api/public` need `Authorization: Bearer <JWT>`; a caller with the `avatars:admin` scope may act on any user and run imports. Every error body is `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "avatars", description = "A user's avatar: read it, replace it from a file, raw bytes or a URL."),
        (name = "jobs", description = "The conversion a PUT started."),
        (name = "imports", description = "Bulk imports, for platforms bringing in avatars by the hundred thousand (admin scope)."),
        (name = "operations", description = "Health, readiness, metrics and this document; no token."),
    ),
    // The bodies that responses name through `IntoResponses` types, which
    // utoipa does not collect, and those of the webhooks.
    components(schemas(
        body::Error,
        body::Avatar,
        body::Completed,
        body::Accepted,
        body::Import,
        avatar_common::imports::ImportCounts,
        Event,
        AvatarUpdated,
        AvatarFailed,
        AvatarDeleted,
    )),
)]
struct Api;

/// The user in a path: an id, or `me` for the caller.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct UserPath {
    /// A user id (1 to 64 characters of `A-Z a-z 0-9 _ -`), or `me` for the
    /// caller.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    user_id: String,
}

/// The body of every webhook event, signed as Standard Webhooks are
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct Event {
    /// `avatar.updated`, `avatar.failed`, `avatar.deleted` or
    /// `import.completed`.
    #[schema(pattern = "^(avatar\\.updated|avatar\\.failed|avatar\\.deleted|import\\.completed)$")]
    r#type: String,
    /// When the event happened, RFC 3339.
    timestamp: String,
    /// What happened; its shape depends on `type`.
    data: Value,
}

/// The data of `avatar.updated`: an avatar became current.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct AvatarUpdated {
    user_id: String,
    job_id: String,
    #[serde(flatten)]
    avatar: body::Avatar,
}

/// The data of `avatar.failed`: a job failed.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
struct AvatarFailed {
    user_id: String,
    job_id: String,
    error: body::ErrorDetail,
}

/// The data of `avatar.deleted`: a DELETE removed an avatar.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
struct AvatarDeleted {
    user_id: String,
}

/// What every operation has: the bearer scheme, `X-Request-Id` on the
/// request and on every answer, and the error shape for any status the
/// operation does not list.
struct Everywhere;

impl Modify for Everywhere {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT whose `sub` is the caller's user id and whose `exp` is required; `scope` holding `avatars:admin` makes the caller an admin.",
                    ))
                    .build(),
            ),
        );
        let request_id_schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^[A-Za-z0-9_.:-]{{1,{MAX_REQUEST_ID_LEN}}}$")))
            .build();
        let mut parameter = Parameter::new(REQUEST_ID);
        parameter.parameter_in = ParameterIn::Header;
        parameter.required = Required::False;
        parameter.description = Some(format!(
            "The request's id, answered back and on every log line of the request and its job; one is made when it is missing or not 1 to {MAX_REQUEST_ID_LEN} letters, digits and `_ - . :`."
        ));
        parameter.schema = Some(request_id_schema.clone().into());
        let header = HeaderBuilder::new()
            .schema(request_id_schema)
            .description(Some("The request's id."))
            .build();
        let error = ResponseBuilder::new()
            .description("An error: its code and a message that says what to fix.")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Error",
                    ))))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(parameter.clone());
                let responses = &mut operation.responses.responses;
                responses
                    .entry("default".into())
                    .or_insert_with(|| error.clone().into());
                for response in responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert(REQUEST_ID.into(), header.clone());
                    }
                }
            }
        }
    }
}

/// The document of `paths` (the router's, from [`crate::routes::table`])
/// as JSON, with the webhook events added.
pub fn document(paths: utoipa::openapi::OpenApi) -> Value {
    let mut openapi = Api::openapi();
    openapi.merge(paths);
    Everywhere.modify(&mut openapi);
    let mut document = serde_json::to_value(&openapi).unwrap_or_else(|_| json!({}));
    document["webhooks"] = webhooks();
    document
}

/// The `webhooks` object: one entry per event type, each a POST of an
/// [`Event`] whose `data` is that event's.
fn webhooks() -> Value {
    let event = |summary: &str, data: Value| {
        json!({
            "post": {
                "summary": summary,
                "description": "Delivered to `AVATARS_WEBHOOK_URL` and to the job's or import's `callbackUrl`, at least once: any answer but 2xx within 10 s is retried with exponential backoff for up to `AVATARS_WEBHOOK_RETRY_HOURS`. `webhook-id` is the same on every attempt.",
                "parameters": [
                    {"name": "webhook-id", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "webhook-timestamp", "in": "header", "required": true,
                     "description": "Unix seconds.", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                    {"name": "webhook-signature", "in": "header", "required": true,
                     "description": "`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under `AVATARS_WEBHOOK_SECRET`.",
                     "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Event"},
                            {"type": "object", "properties": {"data": data}},
                        ],
                    }}},
                },
                "responses": {"2XX": {"description": "Taken; any other answer is retried."}},
            }
        })
    };
    json!({
        "avatar.updated": event(
            "An avatar became current",
            json!({"$ref": "#/components/schemas/AvatarUpdated"}),
        ),
        "avatar.failed": event(
            "A job failed",
            json!({"$ref": "#/components/schemas/AvatarFailed"}),
        ),
        "avatar.deleted": event(
            "A DELETE removed an avatar",
            json!({"$ref": "#/components/schemas/AvatarDeleted"}),
        ),
        "import.completed": event(
            "Every item of an import has ended",
            json!({"$ref": "#/components/schemas/Import"}),
        ),
    })
}

/// The page at [`PAGE_PATH`], reading the document from [`DOCUMENT_PATH`].
pub fn page() -> SwaggerUi {
    SwaggerUi::new(PAGE_PATH).config(
        Config::new([DOCUMENT_PATH])
            .validator_url("none")
            .try_it_out_enabled(true)
            .persist_authorization(true),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// The methods of each route of `router`, read from its `Debug` form
    /// (axum lists every route's path and `allow_header`), HEAD left out
    /// since axum answers it for every GET.
    fn routes_of<S>(router: &axum::Router<S>) -> BTreeMap<String, BTreeSet<String>> {
        let text = format!("{router:?}");
        // The routes proper; the fallback router's ids are its own.
        let text = text.split("fallback_router:").next().unwrap_or_default();
        let id_after = |text: &str, from: usize| -> Option<(String, usize)> {
            let start = text[from..].find("RouteId(")? + from;
            let end = text[start..].find(')')? + start;
            Some((text[start..=end].to_owned(), end + 1))
        };
        let mut methods = BTreeMap::new();
        let mut paths = BTreeMap::new();
        let mut at = 0;
        while let Some((id, next)) = id_after(text, at) {
            let rest = &text[next..];
            if let Some(route) = rest.strip_prefix(": MethodRouter(") {
                const ALLOW: &str = "allow_header: Bytes(b\"";
                let allow = route
                    .find(ALLOW)
                    .map(|i| &route[i + ALLOW.len()..])
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_default();
                let set: BTreeSet<String> = allow
                    .split(',')
                    .filter(|m| !m.is_empty() && *m != "HEAD")
                    .map(str::to_owned)
                    .collect();
                methods.insert(id, set);
            } else if let Some(path) = rest.strip_prefix(": \"") {
                paths.insert(id, path.split('"').next().unwrap_or_default().to_owned());
            }
            at = next;
        }
        paths
            .into_iter()
            .map(|(id, path)| (path, methods.get(&id).cloned().unwrap_or_default()))
            .collect()
    }

    /// The routes of `router` (beside the page's) that `document` lacks,
    /// as `METHOD /path`.
    fn undocumented<S>(router: &axum::Router<S>, document: &Value) -> Vec<String> {
        let routes = routes_of(router);
        assert!(
            routes.len() >= 10 && routes.values().all(|m| !m.is_empty()),
            "the router's routes could not be read from its Debug form (did axum change it?): {routes:?}"
        );
        let mut missing = Vec::new();
        for (path, methods) in &routes {
            if path == PAGE_PATH || path.starts_with(&format!("{PAGE_PATH}/")) {
                continue;
            }
            for method in methods {
                let operation = &document["paths"][path.as_str()][method.to_ascii_lowercase()];
                if !operation.is_object() {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        missing
    }

    #[test]
    fn every_route_of_the_router_is_in_the_document_with_its_methods() {
        let (router, paths) = crate::routes::table().split_for_parts();
        let router = router.merge(page());
        let document = document(paths);
        let missing = undocumented(&router, &document);
        assert!(
            missing.is_empty(),
            "routes without an entry in the OpenAPI document (register them with `routes!` and a `#[utoipa::path]`): {missing:?}"
        );
        let documented: usize = document["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |ops| ops.len()))
            .sum();
        let routed: usize = routes_of(&router)
            .iter()
            .filter(|(path, _)| !path.starts_with(PAGE_PATH))
            .map(|(_, methods)| methods.len())
            .sum();
        assert_eq!(
            documented, routed,
            "the document lists operations that no route serves"
        );
    }

    #[test]
    fn a_route_or_a_method_added_without_its_entry_is_found() {
        let (router, paths) = crate::routes::table().split_for_parts();
        let document = document(paths);
        let router = router
            .route("/api/public/extra", axum::routing::post(|| async {}))
            .route("/healthz", axum::routing::delete(|| async {}));
        assert_eq!(
            undocumented(&router, &document),
            ["POST /api/public/extra", "DELETE /healthz"]
        );
    }

    #[test]
    fn the_document_names_the_bearer_scheme_and_the_webhooks() {
        let (_, paths) = crate::routes::table().split_for_parts();
        let document = document(paths);
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(
            document["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        for event in ["avatar.updated", "avatar.failed", "import.completed"] {
            assert!(document["webhooks"][event]["post"].is_object(), "{event}");
        }
        let put = &document["paths"]["/api/public/user/{user_id}/avatarBytes"]["put"];
        assert_eq!(put["security"][0][BEARER], json!([]));
        assert!(put["responses"]["202"]["headers"]["Location"].is_object());
        assert!(put["responses"]["default"].is_object());
    }
}

//! The web console, served at `/` by `deuteron server`: server-rendered pages (templates compiled
//! into the binary, HTML autoescaped, one small script) over the same service layer as the APIs,
//! behind the same access keys and role rules.
//!
//! Code map: `auth` (session cookies and CSRF tokens), `forms` (input forms from a template's
//! schema and back, no IO), `pages` (what each page reads and shows), `actions` (the forms'
//! POST handlers).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use deuteron_service::{Deuteron, ServiceError};

pub mod actions;
pub mod auth;
pub mod forms;
pub mod pages;

use auth::Session;

/// Rows per page of every list.
pub const PAGE_SIZE: usize = 50;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("update_form.html", include_str!("../templates/update_form.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("templates.html", include_str!("../templates/templates.html")),
    ("template.html", include_str!("../templates/template.html")),
    ("environments.html", include_str!("../templates/environments.html")),
    ("environment.html", include_str!("../templates/environment.html")),
    ("environment_new.html", include_str!("../templates/environment_new.html")),
    ("services.html", include_str!("../templates/services.html")),
    ("service.html", include_str!("../templates/service.html")),
    ("service_new.html", include_str!("../templates/service_new.html")),
    ("instances.html", include_str!("../templates/instances.html")),
    ("instance.html", include_str!("../templates/instance.html")),
    ("pipelines.html", include_str!("../templates/pipelines.html")),
    ("components.html", include_str!("../templates/components.html")),
    ("component.html", include_str!("../templates/component.html")),
    ("deployments.html", include_str!("../templates/deployments.html")),
    ("deployment.html", include_str!("../templates/deployment.html")),
];

const CSS: &str = include_str!("../static/console.css");
const JS: &str = include_str!("../static/console.js");

/// The console's state: the service layer and the compiled page templates.
pub struct Console {
    pub svc: Deuteron,
    pages: minijinja::Environment<'static>,
    /// How often a followed deployment log is read.
    pub poll: Duration,
    /// Mark the session cookie `Secure` (set when the server is reached over HTTPS).
    pub secure_cookies: bool,
}

impl Console {
    pub fn new(svc: Deuteron, poll: Duration) -> Self {
        let mut env = minijinja::Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("console templates compile");
        }
        Self { svc, pages: env, poll, secure_cookies: false }
    }

    /// Renders page `name` with `ctx` (plus the signed-in user, when there is one).
    pub fn render(&self, status: StatusCode, name: &str, session: Option<&Session>, mut ctx: Value) -> Response {
        if let (Some(s), Some(obj)) = (session, ctx.as_object_mut()) {
            obj.insert("me".into(), me(s));
        }
        match self.pages.get_template(name).and_then(|t| t.render(minijinja::value::Serde(&ctx))) {
            Ok(html) => (status, no_store(), Html(html)).into_response(),
            Err(e) => {
                tracing::error!(page = name, error = %e, line = ?e.line(), "console page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, format!("the page {name} failed to render: {e}")).into_response()
            }
        }
    }

    /// An error page.
    pub fn error_page(&self, status: StatusCode, session: Option<&Session>, message: &str) -> Response {
        self.render(
            status,
            "error.html",
            session,
            json!({"title": status.canonical_reason().unwrap_or("Error"), "status": status.as_u16(), "message": message}),
        )
    }

    /// A service error as an error page.
    pub fn service_error(&self, session: Option<&Session>, e: &ServiceError) -> Response {
        let status = match e {
            ServiceError::Validation { .. } | ServiceError::Bundle(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let text = match e {
            ServiceError::NotFound(m) => format!("{m} not found"),
            other => other.full_text(),
        };
        self.error_page(status, session, &text)
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back to `uri`.
    pub async fn session(&self, headers: &HeaderMap, uri: &Uri) -> Result<Session, Response> {
        let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(auth::cookie_from);
        if let Some(value) = cookie {
            match auth::verify(&self.svc, value, now_seconds()).await {
                Ok(s) => return Ok(s),
                Err(why) => tracing::info!(reason = ?why, "console session refused"),
            }
        }
        let next = uri.path_and_query().map_or("/", |p| p.as_str());
        let to = format!("/sign-in?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default());
        Err(Redirect::to(&to).into_response())
    }

    /// The signed-in user of a form post: the CSRF token must be the session's and the role must
    /// allow `operation` (a Proton operation name; the API's rules), else 403.
    pub async fn poster(&self, headers: &HeaderMap, uri: &Uri, form: &forms::FormValues, operation: &str) -> Result<Session, Response> {
        let s = self.session(headers, uri).await?;
        if !auth::csrf_ok(&s, forms::value(form, "_csrf")) {
            tracing::warn!(access_key = %s.key_id, path = %uri.path(), "console form refused: missing or wrong CSRF token");
            return Err(self.error_page(
                StatusCode::FORBIDDEN,
                Some(&s),
                "this form has expired or did not come from the console; reload the page and try again",
            ));
        }
        if !s.may(operation) {
            tracing::warn!(access_key = %s.key_id, role = %s.role, operation, "console action denied");
            return Err(self.error_page(StatusCode::FORBIDDEN, Some(&s), &format!("a {} key may not {operation}", s.role)));
        }
        Ok(s)
    }
}

fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

/// What a page knows of the signed-in user: key, role, CSRF token and what the role may do.
fn me(s: &Session) -> Value {
    let can = |op: &str| s.may(op);
    json!({
        "key": s.key_id, "role": s.role.to_string(), "csrf": s.csrf,
        "can": {
            "create_environment": can("CreateEnvironment"), "update_environment": can("UpdateEnvironment"),
            "create_service": can("CreateService"), "update_instance": can("UpdateServiceInstance"),
            "publish": can("UpdateServiceTemplateVersion"), "recommend": can("UpdateServiceTemplate"),
            "cancel_instance": can("CancelServiceInstanceDeployment"),
            "cancel_environment": can("CancelEnvironmentDeployment"),
        }
    })
}

pub fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The console's routes. `GET /` is the overview; `POST /` stays free for the Proton endpoint.
pub fn router(console: Console) -> Router {
    let c = Arc::new(console);
    Router::new()
        .route("/", get(pages::overview))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route(
            "/static/console.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], CSS) }),
        )
        .route(
            "/static/console.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], JS) }),
        )
        .route("/templates", get(pages::templates))
        .route("/templates/{kind}/{name}", get(pages::template))
        .route("/templates/{kind}/{name}/versions/{version}/publish", post(actions::publish))
        .route("/templates/{kind}/{name}/recommended", post(actions::recommend))
        .route("/environments", get(pages::environments))
        .route("/environments/new", get(pages::environment_new).post(actions::create_environment))
        .route("/environments/{name}", get(pages::environment))
        .route("/environments/{name}/update", post(actions::update_environment))
        .route("/services", get(pages::services))
        .route("/services/new", get(pages::service_new).post(actions::create_service))
        .route("/services/{name}", get(pages::service))
        .route("/services/{service}/instances/{name}", get(pages::instance))
        .route("/services/{service}/instances/{name}/update", post(actions::update_instance))
        .route("/instances", get(pages::instances))
        .route("/pipelines", get(pages::pipelines))
        .route("/components", get(pages::components))
        .route("/components/{name}", get(pages::component))
        .route("/deployments", get(pages::deployments))
        .route("/deployments/{id}", get(pages::deployment))
        .route("/deployments/{id}/stream", get(pages::deployment_stream))
        .route("/deployments/{id}/cancel", post(actions::cancel_deployment))
        .with_state(c)
}

#[derive(Debug, serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path on this server (never `//host`), so sign-in cannot send anyone elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn sign_in_page(State(c): State<Arc<Console>>, Query(q): Query<NextQuery>) -> Response {
    c.render(StatusCode::OK, "sign_in.html", None, json!({"title": "Sign in", "next": safe_next(q.next.as_deref())}))
}

async fn sign_in(State(c): State<Arc<Console>>, Form(form): Form<forms::FormValues>) -> Response {
    let id = forms::value(&form, "key_id").unwrap_or_default();
    let secret = forms::value(&form, "secret").unwrap_or_default();
    let next = safe_next(forms::value(&form, "next"));
    match auth::sign_in(&c.svc, id, secret, now_seconds()).await {
        Some((cookie, role)) => {
            tracing::info!(access_key = %id.trim(), role = %role, "console sign-in");
            let mut r = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(&cookie, c.secure_cookies)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => {
            tracing::warn!(access_key = %id.trim(), "console sign-in refused");
            c.render(
                StatusCode::UNAUTHORIZED,
                "sign_in.html",
                None,
                json!({"title": "Sign in", "next": next, "key_id": id, "error": "Unknown access key, revoked key or wrong secret."}),
            )
        }
    }
}

async fn sign_out() -> Response {
    let mut r = Redirect::to("/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_only_returns_to_this_server() {
        assert_eq!(safe_next(Some("/services/api?x=1")), "/services/api?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}

//! Routing and the endpoint handlers.

use bytes::Bytes;
use http::header::{ALLOW, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::AuthApi;
use super::request::{client_context, query_pairs, read_json};
use super::response::{
    error_response, event_json, json_response, message, session_json, user_json,
};
use crate::api_key::ApiKeyMatched;
use crate::audit::{AuditEventType, AuditQuery, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
use crate::error::AuthError;
use crate::session::{CurrentSession, SessionCookie};
use crate::store::BoxError;

type ApiResult = Result<Response<Full<Bytes>>, AuthError>;

/// The routes, as (path, allowed methods). `HEAD` is accepted wherever `GET` is.
enum Route {
    Signup,
    Login,
    Logout,
    Me,
    ForgotPassword,
    ResetPassword,
    VerifyEmail,
    ChangePassword,
    Sessions,
    Session(String),
    AdminUsers,
    AdminAudit,
}

impl Route {
    fn from_path(path: &str) -> Option<Self> {
        let route = match path {
            "/api/auth/signup" => Self::Signup,
            "/api/auth/login" => Self::Login,
            "/api/auth/logout" => Self::Logout,
            "/api/auth/me" => Self::Me,
            "/api/auth/forgot-password" => Self::ForgotPassword,
            "/api/auth/reset-password" => Self::ResetPassword,
            "/api/auth/verify-email" => Self::VerifyEmail,
            "/api/auth/change-password" => Self::ChangePassword,
            "/api/auth/sessions" => Self::Sessions,
            "/api/admin/users" => Self::AdminUsers,
            "/api/admin/audit" => Self::AdminAudit,
            _ => {
                let id = path.strip_prefix("/api/auth/sessions/")?;
                if id.is_empty() || id.contains('/') {
                    return None;
                }
                Self::Session(id.to_owned())
            }
        };
        Some(route)
    }

    fn method(&self) -> Method {
        match self {
            Self::Me | Self::Sessions | Self::AdminUsers | Self::AdminAudit => Method::GET,
            Self::Session(_) => Method::DELETE,
            _ => Method::POST,
        }
    }
}

/// Routes a request and turns any error into its JSON response.
pub(super) async fn dispatch<B>(api: &AuthApi, request: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let Some(route) = Route::from_path(parts.uri.path()) else {
        return error_response(&AuthError::NotFound);
    };
    let allowed = route.method();
    let method_matches =
        parts.method == allowed || (parts.method == Method::HEAD && allowed == Method::GET);
    if !method_matches {
        let mut response = error_response(&AuthError::MethodNotAllowed);
        let allow = match allowed {
            Method::GET => "GET, HEAD",
            Method::DELETE => "DELETE",
            _ => "POST",
        };
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return response;
    }
    let is_head = parts.method == Method::HEAD;
    let result = handle(api, route, &parts, body).await;
    let mut response = result.unwrap_or_else(|error| {
        if error.status().is_server_error() {
            let cause = std::error::Error::source(&error).map(ToString::to_string);
            tracing::error!(
                path = parts.uri.path(),
                error = %error,
                cause = cause.as_deref().unwrap_or("none"),
                "request failed"
            );
        }
        error_response(&error)
    });
    if is_head {
        *response.body_mut() = Full::new(Bytes::new());
    }
    response
}

async fn handle<B>(api: &AuthApi, route: Route, parts: &Parts, body: B) -> ApiResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let service = &api.service;
    let limit = service.config().max_body_bytes;
    let client = client_context(parts);
    let session = parts
        .extensions
        .get::<CurrentSession>()
        .map(|current| &current.0);
    match route {
        Route::Signup => {
            let input: Credentials = read_json(parts, body, limit).await?;
            service
                .signup(&input.email, &input.password, &client)
                .await?;
            Ok(message(
                StatusCode::CREATED,
                "Signup received. Check your email to continue.",
            ))
        }
        Route::Login => {
            let input: Credentials = read_json(parts, body, limit).await?;
            let outcome = service
                .login(&input.email, &input.password, &client)
                .await?;
            if let Some(previous) = session {
                service.revoke_replaced_session(previous, &client).await;
            }
            let mut response =
                json_response(StatusCode::OK, &json!({ "user": user_json(&outcome.user) }));
            response
                .extensions_mut()
                .insert(SessionCookie::Issue(outcome.token));
            Ok(response)
        }
        Route::Logout => {
            service.logout(session, &client).await?;
            let mut response = message(StatusCode::OK, "Logged out.");
            response.extensions_mut().insert(SessionCookie::Clear);
            Ok(response)
        }
        Route::Me => {
            let session = session.ok_or(AuthError::Unauthorized)?;
            let user = service.current_user(session).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "user": user_json(&user) }),
            ))
        }
        Route::ForgotPassword => {
            let input: ForgotPassword = read_json(parts, body, limit).await?;
            service.forgot_password(&input.email, &client).await?;
            Ok(message(
                StatusCode::OK,
                "If an account exists for that address, a reset link is on its way.",
            ))
        }
        Route::ResetPassword => {
            let input: ResetPassword = read_json(parts, body, limit).await?;
            service
                .reset_password(&input.token, &input.password, &client)
                .await?;
            Ok(message(
                StatusCode::OK,
                "Password reset. Every session was logged out; please log in again.",
            ))
        }
        Route::VerifyEmail => {
            let input: VerifyEmail = read_json(parts, body, limit).await?;
            service.verify_email(&input.token, &client).await?;
            Ok(message(StatusCode::OK, "Email address verified."))
        }
        Route::ChangePassword => {
            let session = session.ok_or(AuthError::Unauthorized)?;
            let input: ChangePassword = read_json(parts, body, limit).await?;
            service
                .change_password(
                    session,
                    &input.current_password,
                    &input.new_password,
                    &client,
                )
                .await?;
            Ok(message(
                StatusCode::OK,
                "Password changed. Every other session was logged out.",
            ))
        }
        Route::Sessions => {
            let session = session.ok_or(AuthError::Unauthorized)?;
            let sessions = service.list_sessions(session.user_id).await?;
            let list: Vec<_> = sessions
                .iter()
                .map(|other| session_json(other, other.id == session.id))
                .collect();
            Ok(json_response(StatusCode::OK, &json!({ "sessions": list })))
        }
        Route::Session(id) => {
            let session = session.ok_or(AuthError::Unauthorized)?;
            let id = Uuid::parse_str(&id).map_err(|_| AuthError::NotFound)?;
            service
                .revoke_own_session(session.user_id, id, &client)
                .await?;
            let mut response = message(StatusCode::OK, "Session revoked.");
            if id == session.id {
                response.extensions_mut().insert(SessionCookie::Clear);
            }
            Ok(response)
        }
        Route::AdminUsers => {
            require_api_key(api, parts)?;
            let (offset, limit) = page(parts)?;
            let users = service.list_users(offset, limit).await?;
            let list: Vec<_> = users.iter().map(user_json).collect();
            Ok(json_response(StatusCode::OK, &json!({ "users": list })))
        }
        Route::AdminAudit => {
            require_api_key(api, parts)?;
            let query = audit_query(parts)?;
            let events = service.query_audit(&query).await?;
            let list: Vec<_> = events.iter().map(event_json).collect();
            Ok(json_response(StatusCode::OK, &json!({ "events": list })))
        }
    }
}

/// Admin endpoints need a configured API key, checked here or by an `ApiKeyLayer` in front.
fn require_api_key(api: &AuthApi, parts: &Parts) -> Result<(), AuthError> {
    if parts.extensions.get::<ApiKeyMatched>().is_some() {
        return Ok(());
    }
    api.admin_keys.verify(&parts.headers).map(|_| ())
}

fn parse_limit(value: &str, max: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(format!("limit must be a whole number from 1 to {max}.")),
    }
}

/// Adds a detail for each parameter of `single` that appears more than once, since taking
/// the first or the last value would silently ignore the other.
fn reject_repeated(pairs: &[(String, String)], single: &[&str], details: &mut Vec<String>) {
    for name in single {
        if pairs.iter().filter(|(key, _)| key == name).count() > 1 {
            details.push(format!("Query parameter {name} may appear only once."));
        }
    }
}

fn page(parts: &Parts) -> Result<(usize, usize), AuthError> {
    let mut offset = 0;
    let mut limit = DEFAULT_AUDIT_LIMIT;
    let mut details = Vec::new();
    let pairs = query_pairs(parts.uri.query())?;
    reject_repeated(&pairs, &["offset", "limit"], &mut details);
    for (name, value) in pairs {
        match name.as_str() {
            "offset" => match value.parse::<usize>() {
                Ok(parsed) => offset = parsed,
                Err(_) => details.push("offset must be a whole number of 0 or more.".to_owned()),
            },
            "limit" => match parse_limit(&value, MAX_AUDIT_LIMIT) {
                Ok(parsed) => limit = parsed,
                Err(detail) => details.push(detail),
            },
            other => details.push(format!("Unknown query parameter {other:?}.")),
        }
    }
    if details.is_empty() {
        Ok((offset, limit))
    } else {
        Err(AuthError::Validation { details })
    }
}

fn audit_query(parts: &Parts) -> Result<AuditQuery, AuthError> {
    let mut query = AuditQuery {
        limit: DEFAULT_AUDIT_LIMIT,
        ..AuditQuery::default()
    };
    let mut details = Vec::new();
    let parse_time = |name: &str, value: &str, details: &mut Vec<String>| {
        OffsetDateTime::parse(value, &Rfc3339)
            .map_err(|_| {
                // A `+` in a query string decodes to a space, which is how offsets get lost.
                let hint = if value.contains(' ') {
                    " Write a + in the offset as %2B."
                } else {
                    ""
                };
                details.push(format!(
                    "{name} must be an RFC 3339 time, such as 2025-12-30T15:30:00Z.{hint}"
                ))
            })
            .ok()
    };
    let pairs = query_pairs(parts.uri.query())?;
    reject_repeated(
        &pairs,
        &["user_id", "since", "until", "limit"],
        &mut details,
    );
    for (name, value) in pairs {
        match name.as_str() {
            "event_type" => {
                for kind in value.split(',').filter(|kind| !kind.is_empty()) {
                    match kind.parse::<AuditEventType>() {
                        Ok(kind) => query.event_types.push(kind),
                        Err(_) => details.push(format!("Unknown event_type {kind:?}.")),
                    }
                }
            }
            "user_id" => match Uuid::parse_str(&value) {
                Ok(id) => query.user_id = Some(id),
                Err(_) => details.push("user_id must be a UUID.".to_owned()),
            },
            "since" => query.since = parse_time("since", &value, &mut details),
            "until" => query.until = parse_time("until", &value, &mut details),
            "limit" => match parse_limit(&value, MAX_AUDIT_LIMIT) {
                Ok(limit) => query.limit = limit,
                Err(detail) => details.push(detail),
            },
            other => details.push(format!("Unknown query parameter {other:?}.")),
        }
    }
    if details.is_empty() {
        Ok(query)
    } else {
        Err(AuthError::Validation { details })
    }
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct ForgotPassword {
    email: String,
}

#[derive(Deserialize)]
struct ResetPassword {
    token: String,
    password: String,
}

#[derive(Deserialize)]
struct VerifyEmail {
    token: String,
}

#[derive(Deserialize)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

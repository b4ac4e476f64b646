//! The edge of the server functions under `/api/`: a body limit, bad input answered as bad input
//! (400 or 413 with a short message, never the deserializer's text behind a 500), and the
//! plain-form redirect only ever back to one of our own pages.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use leptos::server_fn::error::{FromServerFnError, ServerFnError, ServerFnUrlError};

use super::auth::OriginPolicy;

/// The largest body a server function accepts. The biggest legitimate one is a YAML document
/// pasted into the advanced editor, a few kilobytes; a megabyte leaves room for far more.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The header server functions mark their error responses with.
const SERVER_FN_ERROR: &str = "serverfnerror";

pub async fn guard(State(policy): State<OriginPolicy>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let html = accepts_html(&parts.headers);

    // The plain-form flow redirects back to the Referer: only ever to one of our pages.
    let foreign_referer = parts
        .headers
        .get(header::REFERER)
        .is_some_and(|referer| !policy.is_own_url(referer.to_str().unwrap_or(""), &parts.headers));
    if foreign_referer || (html && !parts.headers.contains_key(header::REFERER)) {
        // Back to our start page instead; a full URL, so the error can travel in its query.
        match HeaderValue::from_str(&format!("{}/", policy.public_origin)) {
            Ok(start) => parts.headers.insert(header::REFERER, start),
            Err(_) => parts.headers.remove(header::REFERER),
        };
    }

    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return too_large(html);
    }
    let bytes = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return too_large(html),
        Err(_) => return bad_input(html, "The request body could not be read.".to_owned()),
    };
    if is_form(&parts.headers)
        && let Err(message) = check_form_encoding(&bytes)
    {
        return bad_input(html, message);
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    answer_bad_input_as_such(response, html).await
}

/// A server function that could not read its arguments answers 500 with the deserializer's text
/// (or, for a plain form, redirects with it in the query); either becomes a 400 with our words.
async fn answer_bad_input_as_such(response: Response, html: bool) -> Response {
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response.headers().contains_key(SERVER_FN_ERROR)
    {
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let error = <ServerFnError as FromServerFnError>::de(bytes.clone());
        if let Some(message) = bad_input_message(&error) {
            return bad_input(html, message);
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    if response.status().is_redirection()
        && let Some(encoded) = response
            .headers()
            .get(header::LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(error_in_location)
    {
        let error = ServerFnUrlError::<ServerFnError>::decode_err(&encoded);
        if let Some(message) = bad_input_message(&error) {
            return bad_input(html, message);
        }
    }
    response
}

/// The `__err` query value a plain-form redirect carries.
fn error_in_location(location: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "__err")
        .map(|(_, value)| value.into_owned())
}

/// Our words for an error that means the input could not be read; `None` for anything else.
fn bad_input_message(error: &ServerFnError) -> Option<String> {
    let detail = match error {
        ServerFnError::Args(detail)
        | ServerFnError::MissingArg(detail)
        | ServerFnError::Deserialization(detail) => detail,
        _ => return None,
    };
    // serde names a missing field as "missing field `name`"; say which, and nothing else of it.
    let missing = detail
        .split_once("missing field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field)
        .filter(|field| {
            !field.is_empty()
                && field.len() <= 64
                && field
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_[].".contains(&b))
        });
    Some(match missing {
        Some(field) => format!("The request is missing the field `{field}`."),
        None => "The request could not be read: a field is missing or has the wrong form. \
                 Reload the page and try again."
            .to_owned(),
    })
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("text/html"))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// Every name and value of a form body must be UTF-8, raw and once percent-decoded: the
/// decoder would otherwise replace what it cannot read, and store something the user never typed.
fn check_form_encoding(body: &[u8]) -> Result<(), String> {
    if std::str::from_utf8(body).is_err() {
        return Err("The request body is not valid UTF-8.".to_owned());
    }
    for pair in body.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let decode = |part: &[u8]| {
            let plus_as_space: Vec<u8> = part
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            percent_encoding::percent_decode(&plus_as_space)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .ok()
        };
        let Some(name) = decode(name) else {
            return Err("A field name in the request is not valid UTF-8.".to_owned());
        };
        if decode(value).is_none() {
            let shown: String = name.chars().take(64).collect();
            return Err(format!("The field `{shown}` is not valid UTF-8."));
        }
    }
    Ok(())
}

fn too_large(html: bool) -> Response {
    respond(
        StatusCode::PAYLOAD_TOO_LARGE,
        html,
        format!(
            "The request is larger than the {} KiB a form may send.",
            BODY_LIMIT / 1024
        ),
    )
}

fn bad_input(html: bool, message: String) -> Response {
    respond(StatusCode::BAD_REQUEST, html, message)
}

/// A plain form gets a page it can go back from; a script gets the message in the server
/// functions' own error encoding, so the page shows it like any other refusal.
fn respond(status: StatusCode, html: bool, message: String) -> Response {
    if html {
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Request refused · Signalbox</title>\
             <link rel=\"stylesheet\" href=\"/pkg/signalbox.css\"></head><body><main class=\"page error-page\">\
             <h1>This request could not be used</h1><p class=\"status bad\" id=\"request-error\">{}</p>\
             <p>Nothing was changed. Go back to the page, check what you entered and send it again.</p>\
             <p><a href=\"/\">Back to the start page</a></p></main></body></html>",
            super::auth::html_escape(&message)
        );
        return (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            page,
        )
            .into_response();
    }
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("Args|{message}"),
    )
        .into_response();
    response
        .headers_mut()
        .insert(SERVER_FN_ERROR, HeaderValue::from_static("bad-input"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_must_decode_to_utf8() {
        assert!(check_form_encoding(b"id=abc&body=hello+world%21").is_ok());
        assert!(check_form_encoding("body=gr%C3%BC%C3%9F".as_bytes()).is_ok());
        assert_eq!(
            check_form_encoding(b"id=1&body=%FF"),
            Err("The field `body` is not valid UTF-8.".to_owned())
        );
        assert!(check_form_encoding(b"body=\xff").is_err());
        assert!(check_form_encoding(b"%C3=1").is_err());
    }

    #[test]
    fn only_the_missing_field_name_is_repeated() {
        let error = ServerFnError::Args("missing field `version` at line 1".to_owned());
        assert_eq!(
            bad_input_message(&error).as_deref(),
            Some("The request is missing the field `version`.")
        );
        let error = ServerFnError::Args("invalid digit found in string <script>".to_owned());
        let message = bad_input_message(&error).unwrap_or_default();
        assert!(!message.contains("<script>"), "{message}");
        assert_eq!(
            bad_input_message(&ServerFnError::ServerError("no".to_owned())),
            None
        );
    }

    #[test]
    fn the_error_of_a_form_redirect_is_found() {
        assert_eq!(
            error_in_location("http://127.0.0.1/x?a=1&__path=/api/x&__err=QXJnc3x4").as_deref(),
            Some("QXJnc3x4")
        );
        assert_eq!(error_in_location("/requests/1"), None);
    }
}

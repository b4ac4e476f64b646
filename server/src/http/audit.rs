//! Exports of the audit history: exactly the events the page's filters select, as CSV or as a
//! JSON array, streamed row by row from the database, so a million events never sit in memory.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use backend::audit::{Scope, search};
use backend::auth::CurrentUser;

use super::AppState;

/// Rows are sent in chunks of about this many bytes.
const CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Json,
}

pub async fn export_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    export(state, user, params, Format::Csv)
}

pub async fn export_json(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    export(state, user, params, Format::Json)
}

fn export(
    state: AppState,
    user: CurrentUser,
    params: Vec<(String, String)>,
    format: Format,
) -> Response {
    if user.roles.is_empty() {
        return (
            StatusCode::FORBIDDEN,
            "You are not in any group Signalbox knows; ask your platform team for access.",
        )
            .into_response();
    }
    let filter = match search::parse_filter(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(filter) => filter,
        Err(problems) => {
            let lines: Vec<String> = problems
                .iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect();
            return (StatusCode::BAD_REQUEST, lines.join("\n")).into_response();
        }
    };
    let scope = Scope::of(&user.user.subject, &user.roles);
    let rows = search::stream(state.backend.pool.clone(), scope, filter);
    let stamp =
        backend::audit::chain::timestamp(time::OffsetDateTime::now_utc()).replace([':', '.'], "-");
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let body = encode(rows, format);
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"signalbox-audit-{stamp}.{extension}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The rows as chunks of the chosen format. A database error mid-way ends the stream with an
/// error (the client sees a broken download, never a silently short file).
fn encode(
    rows: impl futures_util::Stream<Item = sqlx::Result<backend::audit::AuditEvent>> + Send + 'static,
    format: Format,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut encoder = Encoder {
        csv: csv_writer(),
        json: Vec::with_capacity(CHUNK * 2),
        first: true,
        done: false,
    };
    match format {
        Format::Csv => {
            let _ = encoder.csv.write_record(search::CSV_HEADER);
        }
        Format::Json => encoder.json.extend_from_slice(b"["),
    }
    let rows = Box::pin(rows);
    futures_util::stream::unfold((rows, encoder), move |(mut rows, mut encoder)| async move {
        if encoder.done {
            return None;
        }
        loop {
            let buffered = match format {
                Format::Csv => encoder.csv.get_ref().len(),
                Format::Json => encoder.json.len(),
            };
            if buffered >= CHUNK {
                let chunk = take(&mut encoder, format);
                return Some((Ok(chunk), (rows, encoder)));
            }
            match rows.next().await {
                Some(Ok(event)) => match format {
                    Format::Csv => {
                        if let Err(error) = encoder.csv.write_record(event.csv_record()) {
                            encoder.done = true;
                            return Some((Err(std::io::Error::other(error)), (rows, encoder)));
                        }
                    }
                    Format::Json => {
                        if !encoder.first {
                            encoder.json.extend_from_slice(b",");
                        }
                        encoder.first = false;
                        encoder.json.extend_from_slice(b"\n");
                        encoder
                            .json
                            .extend_from_slice(event.to_json().to_string().as_bytes());
                    }
                },
                Some(Err(error)) => {
                    tracing::error!(%error, "audit export stopped");
                    encoder.done = true;
                    return Some((Err(std::io::Error::other(error)), (rows, encoder)));
                }
                None => {
                    if let Format::Json = format {
                        encoder.json.extend_from_slice(b"\n]\n");
                    }
                    encoder.done = true;
                    let chunk = take(&mut encoder, format);
                    return Some((Ok(chunk), (rows, encoder)));
                }
            }
        }
    })
}

struct Encoder {
    csv: csv::Writer<Vec<u8>>,
    json: Vec<u8>,
    first: bool,
    done: bool,
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::with_capacity(CHUNK * 2))
}

/// What is buffered, handed over as one chunk.
fn take(encoder: &mut Encoder, format: Format) -> Bytes {
    match format {
        Format::Csv => {
            // A fresh writer per chunk: the old one hands over everything it buffered.
            let full = std::mem::replace(&mut encoder.csv, csv_writer());
            Bytes::from(full.into_inner().unwrap_or_default())
        }
        Format::Json => Bytes::from(std::mem::take(&mut encoder.json)),
    }
}

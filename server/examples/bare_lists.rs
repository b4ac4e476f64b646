//! The baseline of `bench/pages.sh`: the review queue's and "my requests"' SQL (the very same
//! backend functions) answered by bare axum handlers with minimal HTML, so the benchmark shows
//! what the portal adds on top of the query.
//!
//! `bare_lists DATABASE_URL ADDRESS` serves `/queue` as the demo approver (carol) and
//! `/requests` as the demo requester of team-a (alice).

/// The same allocator as the `signalbox` binary, so the comparison is of the pages alone.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use backend::auth::Roles;
use backend::requests::{self, Actor, ListedRequest, MineFilter, QueueFilter};
use sqlx::PgPool;

#[derive(Clone)]
struct Bare {
    pool: PgPool,
    approver: Arc<Roles>,
    requester: Arc<Roles>,
}

fn rows(listed: Vec<ListedRequest>) -> Html<String> {
    let mut html = String::from("<!DOCTYPE html><ul>");
    for row in listed {
        html.push_str(&format!(
            "<li><a href=\"/requests/{}\">{}</a> {} {} {}</li>",
            row.id, row.summary, row.state, row.environment, row.requester_name
        ));
    }
    html.push_str("</ul>");
    Html(html)
}

async fn queue(State(bare): State<Bare>) -> Html<String> {
    let actor = Actor {
        subject: "demo:carol",
        name: "Carol Approver",
        roles: &bare.approver,
        origin: &backend::audit::Origin::NONE,
    };
    let filter = QueueFilter {
        limit: 26,
        ..QueueFilter::default()
    };
    rows(
        requests::queue(&bare.pool, actor, &filter)
            .await
            .expect("queue"),
    )
}

async fn mine(State(bare): State<Bare>) -> Html<String> {
    let actor = Actor {
        subject: "demo:alice",
        name: "Alice Requester",
        roles: &bare.requester,
        origin: &backend::audit::Origin::NONE,
    };
    let filter = MineFilter {
        limit: 26,
        ..MineFilter::default()
    };
    rows(
        requests::requests_of(&bare.pool, actor, &filter)
            .await
            .expect("my requests"),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(address)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: bare_lists DATABASE_URL ADDRESS");
    };
    // The portal's own pool settings, so the comparison is of the pages alone.
    let pool = backend::db::pool_options(10).connect(&url).await?;
    let approver = Roles {
        approver_for_environments: ["dev", "prod"].map(str::to_owned).into(),
        ..Roles::default()
    };
    let requester = Roles {
        requester_for: ["team-a".to_owned()].into(),
        ..Roles::default()
    };
    let bare = Bare {
        pool,
        approver: Arc::new(approver),
        requester: Arc::new(requester),
    };
    let app = Router::new()
        .route("/queue", get(queue))
        .route("/requests", get(mine))
        .with_state(bare);
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

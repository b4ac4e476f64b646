//! A fresh Postgres database per test, created with a random name and dropped afterwards, on the
//! server named by `SIGNALBOX_TEST_DATABASE_URL` (default: the local one on 127.0.0.1:5432).

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

pub fn server_url() -> String {
    std::env::var("SIGNALBOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for the lifetime of this value.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    admin: PgConnectOptions,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin: PgConnectOptions = server_url()
            .parse()
            .expect("SIGNALBOX_TEST_DATABASE_URL parses");
        let name = format!("signalbox_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await.expect(
            "the test Postgres is reachable (scripts/test.sh starts one when none is running)",
        );
        sqlx::raw_sql(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        Self { name, admin }
    }

    pub fn options(&self) -> PgConnectOptions {
        self.admin.clone().database(&self.name)
    }

    pub fn url(&self) -> String {
        let mut url = url_without_database(&server_url());
        url.push('/');
        url.push_str(&self.name);
        url
    }
}

fn url_without_database(url: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a postgres URL has a path");
    base.to_owned()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; use a short-lived one on its own thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = admin.connect().await?;
                sqlx::raw_sql(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

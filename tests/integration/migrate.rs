//! `signalbox migrate` applies the embedded migrations to the configured database.

use signalbox_tests::database::TestDatabase;
use signalbox_tests::test_app::workspace_root;

#[tokio::test]
async fn migrate_applies_every_migration_and_is_idempotent() {
    let database = TestDatabase::create().await;
    let bin = std::env::var("SIGNALBOX_BIN").unwrap_or_else(|_| {
        workspace_root()
            .join("target/debug/signalbox")
            .display()
            .to_string()
    });
    let migrate = || {
        std::process::Command::new(&bin)
            .arg("migrate")
            .env("SIGNALBOX_DATABASE__URL", database.url())
            .output()
            .expect("the signalbox binary runs")
    };

    let first = migrate();
    let second = migrate();

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(second.status.success(), "running it again changes nothing");
    let pool = sqlx::PgPool::connect_with(database.options())
        .await
        .expect("connects");
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .expect("migrations table");
    let shipped = std::fs::read_dir(workspace_root().join("migrations"))
        .expect("migrations folder")
        .count() as i64;
    assert_eq!(applied, shipped);
    pool.close().await;
}

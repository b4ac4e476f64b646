//! Renders request files against a catalog and prints the pull request's files, as the server's
//! `signalbox render` does (the server owns the real CLI; this example exercises the same
//! library calls from a checkout).
//!
//! `cargo run -p mesh --example render -- mesh/tests/fixtures/catalog.json REQUEST.yaml...`

use std::process::ExitCode;

use mesh::config::{EnvironmentConfig, TeamConfig};

#[derive(serde::Deserialize)]
struct CatalogFile {
    environments: Vec<EnvironmentConfig>,
    teams: Vec<TeamConfig>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((catalog_path, requests)) = args.split_first() else {
        eprintln!("usage: render CATALOG.json REQUEST_FILE...");
        return ExitCode::from(2);
    };
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let catalog_text = match read(catalog_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let file: CatalogFile = match serde_json::from_str(&catalog_text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{catalog_path}: {e}");
            return ExitCode::from(2);
        }
    };
    let catalog = match mesh::Catalog::from_config(file.environments, file.teams) {
        Ok(c) => c,
        Err(problems) => {
            problems.iter().for_each(|p| eprintln!("{p}"));
            return ExitCode::FAILURE;
        }
    };
    let mut new = Vec::new();
    let mut problems = Vec::new();
    for path in requests {
        match read(path) {
            Ok(text) => match mesh::parse_documents(path, &text) {
                Ok(found) => new.extend(found),
                Err(found) => problems.extend(found),
            },
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    if problems.is_empty() {
        match mesh::plan(&catalog, &[], &new) {
            Ok(plan) => {
                print!("{}", plan.to_multi_document_yaml());
                plan.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
                return ExitCode::SUCCESS;
            }
            Err(found) => problems.extend(found),
        }
    }
    problems.iter().for_each(|p| eprintln!("{p}"));
    ExitCode::FAILURE
}

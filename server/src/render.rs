//! `signalbox render`: what a pull request would contain for some request files, without a
//! server or a database. Platform engineers use it to review generated config and to seed a
//! GitOps repository; the same `mesh` code runs in the portal.
//!
//! Exit codes: 0 rendered (warnings, if any, on stderr); 1 a request was refused (one line per
//! problem on stderr, naming the file and the field, and the analyzer code where one applies);
//! 2 the command itself was wrong (unreadable file, bad configuration).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The Signalbox configuration (TOML) that describes the environments and teams.
    #[arg(long)]
    config: PathBuf,
    /// Requests already granted; new requests are checked against them. May be repeated.
    #[arg(long = "granted", value_name = "FILE")]
    granted: Vec<PathBuf>,
    /// Write the repository instead of printing the pull request: each environment's folder
    /// under DIR is regenerated as a whole from the granted and the new requests, exactly as
    /// delivery commits it (kustomization.yaml in every folder, so `kubectl kustomize DIR/<env>`
    /// builds it).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The new requests (YAML, one or more documents each), checked in order.
    #[arg(required = true, value_name = "REQUEST_FILE")]
    requests: Vec<PathBuf>,
}

/// Why `render` stopped.
enum Failure {
    /// The input was read but refused.
    Refused(Vec<mesh::Problem>),
    /// The command could not do its job at all.
    Usage(String),
}

pub fn run(args: &RenderArgs) -> ExitCode {
    match render(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(problems)) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("signalbox render: {message}");
            ExitCode::from(2)
        }
    }
}

fn render(args: &RenderArgs) -> Result<(), Failure> {
    let settings = Settings::load(Some(&args.config))
        .map_err(|error| Failure::Usage(format!("{}: {error}", args.config.display())))?;
    let catalog = settings
        .catalog()
        .map_err(|error| Failure::Usage(format!("{error:#}")))?;

    let mut problems = Vec::new();
    let granted = read_requests(&args.granted, &mut problems)?;
    let new = read_requests(&args.requests, &mut problems)?;
    if !problems.is_empty() {
        return Err(Failure::Refused(problems));
    }
    let plan = mesh::plan(&catalog, &granted, &new).map_err(Failure::Refused)?;
    // Accepted, but worth a look (each with its istioctl analyze code where one exists).
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    // What people do outside the pull request, with the YAML to merge.
    for guidance in &plan.guidance {
        eprintln!("\nnote: {}: {}", guidance.title, guidance.text);
        for line in guidance.yaml.lines() {
            eprintln!("  {line}");
        }
    }

    let Some(dir) = &args.out else {
        print!("{}", plan.to_multi_document_yaml());
        return Ok(());
    };
    let all: Vec<mesh::request::Request> = granted.into_iter().chain(new).collect();
    let environments: std::collections::BTreeSet<String> =
        all.iter().map(|r| r.environment().to_string()).collect();
    for environment in environments {
        let state = mesh::render_environment(&catalog, &environment, &all)
            .ok_or_else(|| Failure::Usage(format!("environment {environment} is not configured")))?
            .map_err(Failure::Refused)?;
        let env = catalog.environment(&environment).ok_or_else(|| {
            Failure::Usage(format!("environment {environment} is not configured"))
        })?;
        let root = dir.join(env.path_template.root(&environment));
        // The environment's folder is generated as a whole: files of an earlier run go.
        if root != *dir && root.is_dir() {
            std::fs::remove_dir_all(&root).map_err(|error| {
                Failure::Usage(format!("cannot replace {}: {error}", root.display()))
            })?;
        }
        write_files(dir, &state)?;
    }
    Ok(())
}

fn read_requests(
    files: &[PathBuf],
    problems: &mut Vec<mesh::Problem>,
) -> Result<Vec<mesh::request::Request>, Failure> {
    let mut requests = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", file.display())))?;
        match mesh::request::parse_documents(&file.display().to_string(), &text) {
            Ok(parsed) => requests.extend(parsed),
            Err(found) => problems.extend(found),
        }
    }
    Ok(requests)
}

fn write_files(dir: &Path, plan: &mesh::Plan) -> Result<(), Failure> {
    for file in &plan.files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                Failure::Usage(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        std::fs::write(&path, &file.contents)
            .map_err(|error| Failure::Usage(format!("cannot write {}: {error}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

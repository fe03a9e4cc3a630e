//! `depot deploy`: a project folder to a live environment in one command. Finds or creates
//! the Service and the Environment, uploads in parallel only the files whose content changed
//! (`GET /depot/v1/Services/{ZS}/Contents` tells what depot holds), builds, waits, deploys.
//! Nothing is deployed unless the build completes, so what was live stays live on any failure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::client::{field, Api, Connection};
use super::project::{self, LocalFile};
use crate::store::ContainerKind;

/// Flags of `depot deploy`.
#[derive(Clone, Args, Debug)]
pub struct DeployArgs {
    /// The project folder (with `assets/` and/or `functions/`).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Service unique name; created when missing.
    #[arg(long)]
    pub service: String,
    /// Environment domain suffix (e.g. `dev`); created when missing.
    #[arg(long)]
    pub environment: String,
    /// Build runtime.
    #[arg(long, default_value = "node22")]
    pub runtime: String,
    /// Uploads at once (each waits mostly on the server's fsync, which many share).
    #[arg(long, default_value_t = 32)]
    pub parallel: usize,
    #[command(flatten)]
    pub connection: Connection,
}

/// How long a build may take before the deploy gives up (the toolkit waits 5 minutes).
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// What a deploy did, for its summary and for tests.
#[derive(Debug)]
pub struct Deployed {
    pub service_sid: String,
    pub environment_sid: String,
    pub domain_name: String,
    pub build_sid: String,
    pub uploaded: usize,
    pub unchanged: usize,
}

pub async fn run(args: &DeployArgs) -> Result<Deployed, String> {
    let started = Instant::now();
    let project = project::scan(&args.dir)?;
    let api = Api::new(&args.connection)?;
    let service = find_or_create_service(&api, &args.service).await?;
    let environment = find_or_create_environment(&api, &service, &args.environment).await?;
    let domain_name = field(&environment, "domain_name")?.to_owned();
    let environment_sid = field(&environment, "sid")?.to_owned();

    let held = api
        .get(&format!("/depot/v1/Services/{service}/Contents"))
        .await?;
    let plan = plan(&project.files, &held)?;
    let unchanged = plan.iter().filter(|p| p.version.is_some()).count();
    let uploaded_versions = upload_changed(&api, &service, &plan, args.parallel).await?;

    let mut assets = Vec::new();
    let mut functions = Vec::new();
    for (i, step) in plan.iter().enumerate() {
        let version = match &step.version {
            Some(version) => version.clone(),
            None => uploaded_versions
                .get(&i)
                .cloned()
                .ok_or_else(|| format!("{} was not uploaded", step.file.path))?,
        };
        match step.file.kind {
            ContainerKind::Asset => assets.push(version),
            ContainerKind::Function => functions.push(version),
        }
    }
    let dependencies = serde_json::to_string(
        &project
            .dependencies
            .iter()
            .map(|(name, version)| serde_json::json!({"name": name, "version": version}))
            .collect::<Vec<_>>(),
    )
    .map_err(|e| e.to_string())?;
    let mut form: Vec<(&str, &str)> =
        vec![("Runtime", &args.runtime), ("Dependencies", &dependencies)];
    form.extend(assets.iter().map(|v| ("AssetVersions", v.as_str())));
    form.extend(functions.iter().map(|v| ("FunctionVersions", v.as_str())));
    let build = api
        .post(&format!("/v1/Services/{service}/Builds"), &form)
        .await?;
    let build_sid = field(&build, "sid")?.to_owned();
    eprintln!("building {build_sid} ({} files)", plan.len());
    wait_for_build(&api, &service, &build_sid).await?;
    api.post(
        &format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments"),
        &[("BuildSid", &build_sid)],
    )
    .await?;

    let base = url::Url::parse(api.base()).map_err(|e| e.to_string())?;
    let port = base.port().map(|p| format!(":{p}")).unwrap_or_default();
    println!(
        "deployed {build_sid} to {domain_name} in {:.1} s ({} uploaded, {unchanged} unchanged)",
        started.elapsed().as_secs_f64(),
        plan.len() - unchanged
    );
    for step in &plan {
        if step.file.visibility != crate::store::Visibility::Private {
            println!(
                "  {}://{domain_name}{port}{}",
                base.scheme(),
                step.file.path
            );
        }
    }
    Ok(Deployed {
        service_sid: service,
        environment_sid,
        domain_name,
        build_sid,
        uploaded: plan.len() - unchanged,
        unchanged,
    })
}

/// The Service with unique name `name`, created when missing; its SID.
async fn find_or_create_service(api: &Api, name: &str) -> Result<String, String> {
    match api.get(&format!("/v1/Services/{name}")).await {
        Ok(service) => return Ok(field(&service, "sid")?.to_owned()),
        Err(err) if err.contains(" 404 ") => {}
        Err(err) => return Err(err),
    }
    let created = api
        .post(
            "/v1/Services",
            &[("UniqueName", name), ("FriendlyName", name)],
        )
        .await?;
    eprintln!("created service {name}");
    Ok(field(&created, "sid")?.to_owned())
}

/// The Environment with domain suffix `suffix`, created when missing.
async fn find_or_create_environment(
    api: &Api,
    service: &str,
    suffix: &str,
) -> Result<Value, String> {
    let mut path = format!("/v1/Services/{service}/Environments?PageSize=1000");
    loop {
        let page = api.get(&path).await?;
        if let Some(found) = page
            .get("environments")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|e| e.get("domain_suffix").and_then(Value::as_str) == Some(suffix))
            })
        {
            return Ok(found.clone());
        }
        match page
            .pointer("/meta/next_page_url")
            .and_then(Value::as_str)
            .and_then(|next| next.find("/v1/").map(|at| next[at..].to_owned()))
        {
            Some(next) => path = next,
            None => break,
        }
    }
    let unique_name = format!("{suffix}-environment");
    let created = api
        .post(
            &format!("/v1/Services/{service}/Environments"),
            &[("UniqueName", &unique_name), ("DomainSuffix", suffix)],
        )
        .await?;
    eprintln!("created environment {unique_name}");
    Ok(created)
}

/// One file's part in the deploy: the container it goes in, and the version to use when its
/// content is already there.
struct Step<'p> {
    file: &'p LocalFile,
    container: Option<String>,
    version: Option<String>,
}

/// Matches local files with what depot holds: same kind and path (the toolkit's
/// `FriendlyName`), and, to skip the upload, the same path, visibility and content.
fn plan<'p>(files: &'p [LocalFile], held: &Value) -> Result<Vec<Step<'p>>, String> {
    let entries = held
        .get("contents")
        .and_then(Value::as_array)
        .ok_or("depot's contents answer has no contents")?;
    let mut by_name: HashMap<(&str, &str), &Value> = HashMap::new();
    for entry in entries {
        if let (Some(kind), Some(name)) = (
            entry.get("kind").and_then(Value::as_str),
            entry.get("friendly_name").and_then(Value::as_str),
        ) {
            by_name.entry((kind, name)).or_insert(entry);
        }
    }
    Ok(files
        .iter()
        .map(|file| {
            let kind = match file.kind {
                ContainerKind::Asset => "asset",
                ContainerKind::Function => "function",
            };
            let entry = by_name.get(&(kind, file.path.as_str()));
            let container = entry
                .and_then(|e| e.get("sid"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let version = entry
                .and_then(|e| e.get("latest_version"))
                .filter(|v| {
                    v.get("sha256").and_then(Value::as_str) == Some(file.sha256.as_str())
                        && v.get("path").and_then(Value::as_str) == Some(file.path.as_str())
                        && v.get("visibility").and_then(Value::as_str)
                            == Some(file.visibility.as_str())
                })
                .and_then(|v| v.get("sid"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Step {
                file,
                container,
                version,
            }
        })
        .collect())
}

/// The Asset or Function a step's file goes in: the existing one, or one created now.
async fn container_of(api: &Api, service: &str, step: &Step<'_>) -> Result<String, String> {
    if let Some(sid) = &step.container {
        return Ok(sid.clone());
    }
    let segment = match step.file.kind {
        ContainerKind::Asset => "Assets",
        ContainerKind::Function => "Functions",
    };
    let created = api
        .post(
            &format!("/v1/Services/{service}/{segment}"),
            &[("FriendlyName", &step.file.path)],
        )
        .await?;
    Ok(field(&created, "sid")?.to_owned())
}

/// Uploads the files whose content depot does not hold, each into its Asset or Function
/// (created first when missing); the new version SID by step index.
async fn upload_changed(
    api: &Api,
    service: &str,
    plan: &[Step<'_>],
    parallel: usize,
) -> Result<HashMap<usize, String>, String> {
    let todo: Vec<usize> = (0..plan.len())
        .filter(|&i| plan[i].version.is_none())
        .collect();
    let bytes: u64 = todo.iter().map(|&i| plan[i].file.size).sum();
    let bar = ProgressBar::new(bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let quiet = bar.is_hidden();
    let files = todo.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    bar.set_message(format!("0/{files} files"));
    let uploaded: Vec<(usize, String)> = futures_util::stream::iter(todo.into_iter().map(|i| {
        let (bar, done) = (&bar, &done);
        async move {
            let step = &plan[i];
            let container = container_of(api, service, step).await?;
            let sid = upload_one(api, service, step.file, &container).await?;
            bar.inc(step.file.size);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!("{n}/{files} files"));
            if quiet {
                eprintln!("uploaded {} ({} bytes)", step.file.path, step.file.size);
            }
            Ok::<_, String>((i, sid))
        }
    }))
    .buffer_unordered(parallel.max(1))
    .try_collect()
    .await?;
    bar.finish_and_clear();
    Ok(uploaded.into_iter().collect())
}

async fn upload_one(
    api: &Api,
    service: &str,
    file: &LocalFile,
    container: &str,
) -> Result<String, String> {
    let segment = match file.kind {
        ContainerKind::Asset => "Assets",
        ContainerKind::Function => "Functions",
    };
    let content_type = match file.kind {
        ContainerKind::Function => "application/javascript".to_owned(),
        ContainerKind::Asset => mime_guess::from_path(&file.path)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    };
    let path = format!("/v1/Services/{service}/{segment}/{container}/Versions");
    let version = api
        .post_multipart(&path, || {
            let source = file.source.clone();
            let body = reqwest::Body::wrap_stream(file_stream(source, file.size));
            let part = reqwest::multipart::Part::stream_with_length(body, file.size)
                .file_name(file.path.trim_start_matches('/').replace('/', "_"))
                .mime_str(&content_type)
                .map_err(|e| e.to_string())?;
            Ok(reqwest::multipart::Form::new()
                .text("Path", file.path.clone())
                .text("Visibility", file.visibility.as_str())
                .part("Content", part))
        })
        .await?;
    Ok(field(&version, "sid")?.to_owned())
}

/// A file's bytes as a stream of chunks: uploads are never held whole in memory.
fn file_stream(
    path: PathBuf,
    size: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    // One byte more than the file, so that a file read whole meets its end in the next read.
    let chunk = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .clamp(1, 256 * 1024 - 1)
        + 1;
    futures_util::stream::unfold(None, move |file: Option<tokio::fs::File>| {
        let path = path.clone();
        async move {
            use tokio::io::AsyncReadExt;
            let mut file = match file {
                Some(file) => file,
                None => match tokio::fs::File::open(&path).await {
                    Ok(file) => file,
                    Err(err) => return Some((Err(err), None)),
                },
            };
            // No larger than the file: most are small, and a zeroed buffer costs its size.
            let mut buf = vec![0u8; chunk];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), Some(file)))
                }
                Err(err) => Some((Err(err), None)),
            }
        }
    })
}

async fn wait_for_build(api: &Api, service: &str, build: &str) -> Result<(), String> {
    let started = Instant::now();
    // Small builds finish in tens of milliseconds: ask soon, then less and less often.
    let mut pause = Duration::from_millis(20);
    loop {
        let status = api
            .get(&format!("/v1/Services/{service}/Builds/{build}/Status"))
            .await?;
        match field(&status, "status")? {
            "completed" => return Ok(()),
            "failed" => {
                return Err(format!(
                    "build {build} failed; nothing was deployed (what was live stays live)"
                ))
            }
            _ if started.elapsed() > BUILD_TIMEOUT => {
                return Err(format!(
                    "build {build} still building after {} s; nothing was deployed",
                    BUILD_TIMEOUT.as_secs()
                ))
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}

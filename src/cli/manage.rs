//! `depot ls`, `depot rollback` and `depot logs`: thin clients of the Serverless API.

use std::collections::HashSet;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::client::{field, Api, Connection};

/// Flags of `depot ls`.
#[derive(Clone, Args, Debug)]
pub struct LsArgs {
    #[command(flatten)]
    pub connection: Connection,
}

/// Flags naming one environment of one service.
#[derive(Clone, Args, Debug)]
pub struct EnvironmentArgs {
    /// Service unique name or SID.
    #[arg(long)]
    pub service: String,
    /// Environment domain suffix (e.g. `dev`), unique name or SID.
    #[arg(long)]
    pub environment: String,
    #[command(flatten)]
    pub connection: Connection,
}

/// Flags of `depot logs`.
#[derive(Clone, Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: EnvironmentArgs,
    /// Keep printing new log lines as they come.
    #[arg(long)]
    pub follow: bool,
}

/// Every item of a list, following `meta.next_page_url`.
async fn all(api: &Api, path: &str, key: &str) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(path) = next {
        let page = api.get(&path).await?;
        items.extend(
            page.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        next = page
            .pointer("/meta/next_page_url")
            .and_then(Value::as_str)
            .and_then(|url| url.find("/v1/").map(|at| url[at..].to_owned()));
    }
    Ok(items)
}

/// Services, their environments with domains, and what each serves.
pub async fn ls(args: &LsArgs) -> Result<(), String> {
    let api = Api::new(&args.connection)?;
    let services = all(&api, "/v1/Services?PageSize=100", "services").await?;
    if services.is_empty() {
        println!("no services yet: `depot deploy DIR --service NAME --environment dev` makes one");
    }
    for service in services {
        let sid = field(&service, "sid")?;
        println!("{} {sid}", field(&service, "unique_name")?);
        let path = format!("/v1/Services/{sid}/Environments?PageSize=100");
        for environment in all(&api, &path, "environments").await? {
            let live = environment
                .get("build_sid")
                .and_then(Value::as_str)
                .unwrap_or("nothing deployed");
            println!(
                "  {:<24} {:<48} {live}",
                field(&environment, "unique_name")?,
                field(&environment, "domain_name")?
            );
        }
    }
    Ok(())
}

/// The environment `args` names: by SID, unique name or domain suffix.
async fn environment(api: &Api, args: &EnvironmentArgs) -> Result<(String, Value), String> {
    let service = api.get(&format!("/v1/Services/{}", args.service)).await?;
    let service_sid = field(&service, "sid")?.to_owned();
    let path = format!("/v1/Services/{service_sid}/Environments?PageSize=100");
    let wanted = args.environment.as_str();
    all(api, &path, "environments")
        .await?
        .into_iter()
        .find(|e| {
            ["sid", "unique_name", "domain_suffix"]
                .iter()
                .any(|k| e.get(k).and_then(Value::as_str) == Some(wanted))
        })
        .map(|e| (service_sid, e))
        .ok_or_else(|| format!("service {} has no environment {wanted}", args.service))
}

/// Redeploys the build that was live before the current one.
pub async fn rollback(args: &EnvironmentArgs) -> Result<(), String> {
    let api = Api::new(&args.connection)?;
    let (service, environment) = environment(&api, args).await?;
    let environment_sid = field(&environment, "sid")?;
    let path =
        format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments?PageSize=100");
    let deployments = all(&api, &path, "deployments").await?;
    let builds: Vec<&str> = deployments
        .iter()
        .filter_map(|d| d.get("build_sid").and_then(Value::as_str))
        .collect();
    let current = environment.get("build_sid").and_then(Value::as_str);
    let previous = builds
        .iter()
        .rev()
        .find(|b| Some(**b) != current)
        .ok_or("no earlier build was live in this environment")?;
    api.post(
        &format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments"),
        &[("BuildSid", previous)],
    )
    .await?;
    println!(
        "rolled back {} to {previous}",
        field(&environment, "domain_name")?
    );
    Ok(())
}

/// Prints an environment's logs, oldest first, and with `--follow` new ones as they come.
pub async fn logs(args: &LogsArgs) -> Result<(), String> {
    let api = Api::new(&args.target.connection)?;
    let (service, environment) = environment(&api, &args.target).await?;
    let environment_sid = field(&environment, "sid")?;
    let path = format!("/v1/Services/{service}/Environments/{environment_sid}/Logs?PageSize=100");
    let mut seen = HashSet::new();
    loop {
        // Newest first: the first page holds everything new since the last look.
        let page = api.get(&path).await?;
        let mut fresh: Vec<&Value> = page
            .get("logs")
            .and_then(Value::as_array)
            .map(|logs| logs.iter().collect())
            .unwrap_or_default();
        fresh.retain(|log| {
            log.get("sid")
                .and_then(Value::as_str)
                .is_some_and(|sid| seen.insert(sid.to_owned()))
        });
        for log in fresh.into_iter().rev() {
            println!(
                "{} {:<5} {}",
                log.get("date_created")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                log.get("level").and_then(Value::as_str).unwrap_or(""),
                log.get("message").and_then(Value::as_str).unwrap_or("")
            );
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

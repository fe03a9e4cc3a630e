//! `depot accounts create|list` and `depot keys create|list|delete`: thin clients of the
//! 2010-04-01 Accounts and Keys API (`docs/accounts.md`). They need the account's own auth
//! token: Twilio, and depot, refuse API keys on these paths.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{field, Api, Connection};

#[derive(Clone, Args, Debug)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: AccountsCommand,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Clone, Subcommand, Debug)]
pub enum AccountsCommand {
    /// Create a subaccount; prints its SID and auth token (shown once).
    Create {
        #[arg(long)]
        friendly_name: Option<String>,
    },
    /// List this account and its subaccounts.
    List,
}

#[derive(Clone, Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Clone, Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an API key; prints its SID and secret (shown once).
    Create {
        #[arg(long)]
        friendly_name: Option<String>,
    },
    /// List the account's API keys.
    List,
    /// Delete an API key: it is refused from the next request on.
    Delete { sid: String },
}

fn account_sid(connection: &Connection) -> Result<&str, String> {
    connection
        .account_sid
        .as_deref()
        .ok_or_else(|| "set DEPOT_ACCOUNT_SID (or --account-sid)".to_owned())
}

/// Every item of a 2010-style list, following `next_page_uri`.
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
            .get("next_page_uri")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Ok(items)
}

pub async fn accounts(args: &AccountsArgs) -> Result<(), String> {
    let api = Api::new(&args.connection)?;
    match &args.command {
        AccountsCommand::Create { friendly_name } => {
            let form: Vec<(&str, &str)> = friendly_name
                .iter()
                .map(|n| ("FriendlyName", n.as_str()))
                .collect();
            let created = api.post("/2010-04-01/Accounts.json", &form).await?;
            println!("created subaccount {}", field(&created, "sid")?);
            println!("  DEPOT_ACCOUNT_SID={}", field(&created, "sid")?);
            println!("  DEPOT_AUTH_TOKEN={}", field(&created, "auth_token")?);
            println!("  (shown once)");
        }
        AccountsCommand::List => {
            for account in all(&api, "/2010-04-01/Accounts.json", "accounts").await? {
                println!(
                    "{} {:<10} {}",
                    field(&account, "sid")?,
                    field(&account, "status")?,
                    field(&account, "friendly_name")?
                );
            }
        }
    }
    Ok(())
}

pub async fn keys(args: &KeysArgs) -> Result<(), String> {
    let api = Api::new(&args.connection)?;
    let account = account_sid(&args.connection)?;
    let base = format!("/2010-04-01/Accounts/{account}/Keys");
    match &args.command {
        KeysCommand::Create { friendly_name } => {
            let form: Vec<(&str, &str)> = friendly_name
                .iter()
                .map(|n| ("FriendlyName", n.as_str()))
                .collect();
            let created = api.post(&format!("{base}.json"), &form).await?;
            println!("created key {}", field(&created, "sid")?);
            println!("  DEPOT_API_KEY={}", field(&created, "sid")?);
            println!("  DEPOT_API_SECRET={}", field(&created, "secret")?);
            println!("  (shown once)");
        }
        KeysCommand::List => {
            for key in all(&api, &format!("{base}.json"), "keys").await? {
                println!(
                    "{} {}",
                    field(&key, "sid")?,
                    key.get("friendly_name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                );
            }
        }
        KeysCommand::Delete { sid } => {
            api.delete(&format!("{base}/{sid}.json")).await?;
            println!("deleted key {sid}");
        }
    }
    Ok(())
}

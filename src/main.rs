//! The `depot` binary: parse the command line, set up logging, run the server.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use depot::config::{Cli, Command, Config};
use depot::Server;

/// Requests allocate many small, short-lived objects; mimalloc serves those faster than the
/// system allocator and returns memory to the OS more readily.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => depot::config::LogFormat::Pretty,
    };
    let filter = EnvFilter::try_from_env("DEPOT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        depot::config::LogFormat::Json => logs.json().init(),
        // Colour codes only help a person at a terminal; in a file or a journal they are noise.
        depot::config::LogFormat::Pretty => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Deploy(args) => client("deploy", depot::cli::deploy::run(&args).await),
        Command::Ls(args) => client("ls", depot::cli::manage::ls(&args).await),
        Command::Rollback(args) => client("rollback", depot::cli::manage::rollback(&args).await),
        Command::Logs(args) => client("logs", depot::cli::manage::logs(&args).await),
        Command::Accounts(args) => client("accounts", depot::cli::accounts::accounts(&args).await),
        Command::Keys(args) => client("keys", depot::cli::accounts::keys(&args).await),
    }
}

/// The exit of a client command: its error, if any, as one line on stderr.
fn client<T>(command: &str, result: Result<T, String>) -> std::process::ExitCode {
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("depot {command}: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(args: depot::config::MigrateArgs) -> std::process::ExitCode {
    let opened = async {
        let (database, blobs) = args.source()?;
        let from = depot::store::open(&database, 0)
            .await
            .map_err(|e| format!("source database {database}: {e}"))?;
        let from_blobs = depot::blob::Blobs::open(&blobs)
            .map_err(|e| format!("source content store {blobs}: {e}"))?;
        let to = depot::store::open(&args.to_database_url, 0)
            .await
            .map_err(|e| format!("target database: {e}"))?;
        let to_blobs = depot::blob::Blobs::open(&args.to_blob_url)
            .map_err(|e| format!("target content store: {e}"))?;
        Ok::<_, String>((from, from_blobs, to, to_blobs))
    };
    let (from, from_blobs, to, to_blobs) = match opened.await {
        Ok(opened) => opened,
        Err(message) => {
            eprintln!("depot: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let progress = |line: String| println!("copying {line}");
    match depot::migrate::copy(
        (from.as_ref(), &from_blobs),
        (to.as_ref(), &to_blobs),
        &progress,
    )
    .await
    {
        Ok(copied) => {
            println!(
                "copied {} accounts, {} rows, {} blobs ({} bytes, each verified by SHA-256)",
                copied.accounts, copied.rows, copied.blobs, copied.bytes
            );
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("depot: migration failed: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: depot::config::ServeArgs) -> std::process::ExitCode {
    if let Some(addr) = args.metrics_listen {
        if let Err(err) = depot::metrics::serve(addr) {
            eprintln!("depot: --metrics-listen {addr}: {err}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("depot: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let (server, bootstrapped) = match Server::bind(config).await {
        Ok(bound) => bound,
        Err(err) => {
            eprintln!("depot: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let account = &bootstrapped.account;
    if bootstrapped.generated {
        println!("created account {}", account.sid);
        println!("  DEPOT_ACCOUNT_SID={}", account.sid);
        println!("  DEPOT_AUTH_TOKEN={}", account.auth_token);
        println!("  (shown once; set both variables to choose your own)");
    } else {
        println!("account {}", account.sid);
    }
    let addr = match server.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("depot: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = shutdown_signal();
    println!(
        "depot {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(intercept) = server.intercept() {
        // A client on this machine reaches an unspecified address through loopback.
        let proxy = match addr.ip().is_unspecified() {
            true => format!("http://127.0.0.1:{}", addr.port()),
            false => format!("http://{addr}"),
        };
        println!("intercepting Twilio hosts (--intercept-twilio); point unmodified clients here:");
        for line in intercept.exports(&proxy) {
            println!("  {line}");
        }
    }
    match server.run(shutdown).await {
        Ok(()) => {
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("depot: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed at once, before the listening
/// line is printed, so a signal sent as soon as depot says it listens is never missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |handler: std::io::Result<tokio::signal::unix::Signal>| async move {
            match handler {
                Ok(mut handler) => {
                    handler.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

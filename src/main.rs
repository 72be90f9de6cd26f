use std::sync::Arc;

use relevo::cli::{self, Command};
use relevo::clock::SystemClock;
use relevo::config::Settings;
use relevo::startup::Application;
use relevo::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let command = cli::parse(std::env::args().skip(1))?;
    if let Command::PrintOpenApi = command {
        print!("{}", relevo::openapi::pretty_json());
        return Ok(());
    }
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format)?;
    match command {
        Command::Serve => {
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            log::info!(
                "Relevo listening on http://{} (API docs at /docs/, admin console at /console/)",
                app.address()
            );
            app.run_until_stopped().await?;
        }
        other => cli::run(other, settings).await?,
    }
    Ok(())
}

//! `relevo [serve]`, `relevo migrate`, `relevo openapi`, `relevo admin create --email E [--password P]`.

use crate::auth::password;
use crate::config::Settings;
use crate::db::{self, users};
use crate::domain::{parse_password, Email, Role};
use crate::startup::generate_password;

#[derive(Debug, PartialEq)]
pub enum Command {
    Serve,
    Migrate,
    PrintOpenApi,
    CreateAdmin {
        email: String,
        password: Option<String>,
    },
}

const USAGE: &str = "usage: relevo [serve] | relevo migrate | relevo openapi | relevo admin create --email EMAIL [--password PASSWORD]";

pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Command> {
    let args: Vec<String> = args.into_iter().collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["serve"] => Ok(Command::Serve),
        ["migrate"] => Ok(Command::Migrate),
        ["openapi"] => Ok(Command::PrintOpenApi),
        ["admin", "create", options @ ..] => {
            let mut email = None;
            let mut password = None;
            let mut options = options.iter();
            while let Some(option) = options.next() {
                let value = options.next().map(|v| v.to_string());
                match (*option, value) {
                    ("--email", Some(v)) => email = Some(v),
                    ("--password", Some(v)) => password = Some(v),
                    _ => anyhow::bail!("unexpected `{option}`\n{USAGE}"),
                }
            }
            let email = email.ok_or_else(|| anyhow::anyhow!("--email is required\n{USAGE}"))?;
            Ok(Command::CreateAdmin { email, password })
        }
        ["-h" | "--help" | "help"] => anyhow::bail!("{USAGE}"),
        _ => anyhow::bail!("unknown command `{}`\n{USAGE}", words.join(" ")),
    }
}

/// The commands other than serving and printing the spec.
#[allow(
    clippy::unreachable,
    reason = "main handles these two commands before this one is called; not a request path"
)]
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || match command {
        Command::Migrate => {
            let pool = db::build_pool(&settings)?;
            let mut conn = pool.get()?;
            db::run_migrations(&mut conn)?;
            println!("database is up to date");
            Ok(())
        }
        Command::CreateAdmin { email, password } => create_admin(&settings, &email, password),
        Command::Serve | Command::PrintOpenApi => unreachable!("handled by main"),
    })
    .await?
}

fn create_admin(settings: &Settings, email: &str, password: Option<String>) -> anyhow::Result<()> {
    let email =
        Email::parse(email).map_err(|_| anyhow::anyhow!("`{email}` is not an email address"))?;
    let (password, generated) = match password {
        Some(given) => (
            parse_password(&given, Some(&email)).map_err(|_| {
                anyhow::anyhow!("the password must have 8 to 128 characters and be hard to guess")
            })?,
            false,
        ),
        None => (generate_password(), true),
    };
    let pool = db::build_pool(settings)?;
    let mut conn = pool.get()?;
    db::run_migrations(&mut conn)?;
    if !users::create_first(
        &mut conn,
        email.as_str(),
        &password::hash(&password)?,
        Role::SuperAdmin,
    )? {
        anyhow::bail!("a user with email {} already exists", email.as_str());
    }
    println!("created super admin {}", email.as_str());
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> anyhow::Result<Command> {
        parse(words.iter().map(|w| w.to_string()))
    }

    #[test]
    fn commands() {
        assert_eq!(parse_words(&[]).unwrap(), Command::Serve);
        assert_eq!(parse_words(&["migrate"]).unwrap(), Command::Migrate);
        assert_eq!(parse_words(&["openapi"]).unwrap(), Command::PrintOpenApi);
        assert_eq!(
            parse_words(&[
                "admin",
                "create",
                "--email",
                "a@b.co",
                "--password",
                "secret123"
            ])
            .unwrap(),
            Command::CreateAdmin {
                email: "a@b.co".into(),
                password: Some("secret123".into())
            }
        );
        assert!(parse_words(&["admin", "create"]).is_err());
        assert!(parse_words(&["admin", "create", "--email"]).is_err());
        assert!(parse_words(&["bogus"]).is_err());
    }
}

//! `chorus admin ...`: account operations on a stopped server's data dir.

use std::io::BufRead;

use chorus_actors::accounts::NewUser;
use chorus_actors::model::Role;
use chorus_actors::store::StoreError;
use chorus_actors::{Core, CoreError};

use crate::config::Config;

/// What went wrong, as one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the data dir is in use: stop the server first ({0})")]
    InUse(String),
    #[error("{0}")]
    Core(CoreError),
    #[error("unknown role {0:?}: use user, admin or superadmin")]
    Role(String),
    #[error("could not read the password from stdin: {0}")]
    Stdin(std::io::Error),
    #[error(
        "no data dir at {0}: this would create an empty database there. \
         Pass --data-dir DIR with the server's data dir (store.data_dir), \
         or --data-dir {0} to create it"
    )]
    NoDataDir(String),
}

/// Refuses to run on a data dir that does not exist unless `--data-dir`
/// named it: an operator in the wrong directory would otherwise create an
/// empty database and a user the server never sees.
pub fn check_data_dir(config: &Config, given: bool) -> Result<(), AdminError> {
    let dir = &config.store.data_dir;
    if given || dir.is_dir() {
        return Ok(());
    }
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    Err(AdminError::NoDataDir(shown.display().to_string()))
}

impl From<CoreError> for AdminError {
    fn from(e: CoreError) -> Self {
        match e {
            // sled holds an exclusive lock on its files while a server runs.
            CoreError::Store(StoreError::Io(msg)) => AdminError::InUse(msg),
            other => AdminError::Core(other),
        }
    }
}

async fn core(config: &Config) -> Result<Core, AdminError> {
    // The CLI serves no sockets: no chat needs a rate limit.
    let gate = chorus_actors::connections::no_chat_limit();
    Ok(Core::start(crate::core_config(config), gate).await?)
}

fn role(name: &str) -> Result<Role, AdminError> {
    Role::parse(name).ok_or_else(|| AdminError::Role(name.to_string()))
}

/// `chorus admin create-user`: the password is the first line of stdin.
pub async fn create_user(
    config: &Config,
    email: &str,
    username: &str,
    role_name: &str,
) -> Result<String, AdminError> {
    let role = role(role_name)?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(AdminError::Stdin)?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    let core = core(config).await?;
    let user = core
        .accounts()
        .register(NewUser {
            username: username.to_string(),
            email: email.to_string(),
            password,
            full_name: None,
            role: Some(role),
        })
        .await?;
    core.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(format!(
        "created {} <{}> as {}",
        user.username,
        user.email,
        user.role.as_str()
    ))
}

/// `chorus admin set-role`.
pub async fn set_role(config: &Config, email: &str, role_name: &str) -> Result<String, AdminError> {
    let role = role(role_name)?;
    let core = core(config).await?;
    let user = core.accounts().set_role_by_email(email, role).await?;
    core.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(format!(
        "{} <{}> is now {}",
        user.username,
        user.email,
        user.role.as_str()
    ))
}

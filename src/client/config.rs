//! Saved logins: `<config dir>/podops/config.yaml` (`$XDG_CONFIG_HOME` or
//! `~/.config` on Linux), one profile per API, written with mode 0600 since
//! it holds tokens. Flags beat environment variables, which beat the file.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::{args::ClientOpts, ClientError};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub api: Option<String>,
    pub token: Option<String>,
    /// The production chosen with `podops use` (its guid).
    pub production: Option<String>,
}

/// What a command runs with, after flags, environment and file are merged.
#[derive(Clone)]
pub struct Settings {
    pub api: String,
    pub token: String,
    pub production: Option<String>,
}

pub fn config_dir() -> Result<PathBuf, ClientError> {
    dirs::config_dir().map(|d| d.join("podops")).ok_or_else(|| ClientError::usage("no configuration directory (set HOME or XDG_CONFIG_HOME)"))
}

/// Where unfinished uploads remember their server-side state.
pub fn state_dir() -> Result<PathBuf, ClientError> {
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|d| d.join("podops"))
        .ok_or_else(|| ClientError::usage("no state directory (set HOME or XDG_STATE_HOME)"))
}

impl ConfigFile {
    fn path() -> Result<PathBuf, ClientError> {
        Ok(config_dir()?.join("config.yaml"))
    }

    pub fn load() -> Result<Self, ClientError> {
        let path = Self::path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| ClientError::usage(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ClientError::usage(format!("{}: {e}", path.display()))),
        }
    }

    /// Written to a temp file with mode 0600, then renamed over the old one:
    /// a token is never readable by others, even for a moment.
    pub fn save(&self) -> Result<(), ClientError> {
        let path = Self::path()?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let fail = |e: std::io::Error| ClientError::usage(format!("cannot write {}: {e}", path.display()));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let text = serde_yaml_ng::to_string(self).map_err(|e| ClientError::usage(e.to_string()))?;
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
        std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(fail)?;
        temp.persist(&path).map_err(|e| fail(e.error))?;
        Ok(())
    }

    pub fn profile(&self, name: &str) -> Profile {
        self.profiles.get(name).cloned().unwrap_or_default()
    }
}

impl Settings {
    pub fn resolve(opts: &ClientOpts) -> Result<Self, ClientError> {
        let profile = ConfigFile::load()?.profile(&opts.profile);
        let api = opts.api.clone().or(profile.api).ok_or_else(|| {
            ClientError::usage("no API: run `podops login --api URL --email ADDRESS` (or --token TOKEN), or set --api / PODOPS_API")
        })?;
        let token = opts.token.clone().or(profile.token).ok_or_else(|| {
            ClientError::usage("no token: run `podops login --api URL --email ADDRESS` (or --token TOKEN), or set --token / PODOPS_TOKEN")
        })?;
        Ok(Self { api: api.trim_end_matches('/').to_owned(), token, production: opts.production.clone().or(profile.production) })
    }
}

//! `[audit]`: how long audit records are kept, and when a burst of failed
//! sign-ins is written as its one record.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The longest retention accepted (100 years).
const MAX_RETENTION_DAYS: u64 = 36_500;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Records older than this many days are deleted (1..=36500).
    pub retention_days: u64,
    /// A burst of failed sign-ins on one account is written as one record
    /// once no failure has come for this long (milliseconds, 10..=3600000).
    pub login_burst_quiet_ms: u64,
}

impl Default for AuditSection {
    /// The default of `config/default.toml`.
    fn default() -> Self {
        Self {
            retention_days: 365,
            login_burst_quiet_ms: 60_000,
        }
    }
}

impl AuditSection {
    /// Checks the ranges serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(ConfigError::new(
                "audit.retention_days",
                format!("must be 1..={MAX_RETENTION_DAYS}"),
            ));
        }
        if !(10..=3_600_000).contains(&self.login_burst_quiet_ms) {
            return Err(ConfigError::new(
                "audit.login_burst_quiet_ms",
                "must be 10..=3600000",
            ));
        }
        Ok(())
    }

    /// The core's view of the section.
    pub fn core(&self) -> chorus_actors::audit::AuditConfig {
        chorus_actors::audit::AuditConfig {
            retention: Duration::from_secs(self.retention_days * 86_400),
            login_burst_quiet: Duration::from_millis(self.login_burst_quiet_ms),
        }
    }
}

//! API roles. OrderCloud's names where OrderCloud has the role; `TriggerSender` is ours (the key
//! a commerce platform posts triggers with, scoped to its ClientIDs).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Role {
    /// Everything.
    FullAccess,
    /// Read and write DeliveryConfigs.
    DeliveryConfigAdmin,
    /// Read and write TrackingEvents.
    TrackingEventAdmin,
    /// Read TrackingEvents.
    TrackingEventReader,
    /// Read and write the ErrorConfig singleton.
    ErrorConfigAdmin,
    /// Post triggers for the key's ClientIDs.
    TriggerSender,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::FullAccess,
        Role::DeliveryConfigAdmin,
        Role::TrackingEventAdmin,
        Role::TrackingEventReader,
        Role::ErrorConfigAdmin,
        Role::TriggerSender,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::FullAccess => "FullAccess",
            Role::DeliveryConfigAdmin => "DeliveryConfigAdmin",
            Role::TrackingEventAdmin => "TrackingEventAdmin",
            Role::TrackingEventReader => "TrackingEventReader",
            Role::ErrorConfigAdmin => "ErrorConfigAdmin",
            Role::TriggerSender => "TriggerSender",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; allowed: FullAccess, DeliveryConfigAdmin, TrackingEventAdmin, TrackingEventReader, ErrorConfigAdmin, TriggerSender")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| UnknownRole(value.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_case_insensitively() {
        for role in Role::ALL {
            assert_eq!(role.as_str().to_lowercase().parse::<Role>(), Ok(role));
        }
        assert!("Admin".parse::<Role>().is_err());
    }
}

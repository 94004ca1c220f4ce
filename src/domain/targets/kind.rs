//! The kinds of target a DeliveryConfig may hold, and the key one target of one DeliveryConfig
//! is counted by.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One target of one DeliveryConfig: what requests in flight, waiting queues and circuit
/// breakers are counted per.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetKey {
    /// The DeliveryConfig's ID.
    pub config: String,
    pub kind: TargetKind,
}

impl TargetKey {
    pub fn new(config: &str, kind: TargetKind) -> TargetKey {
        TargetKey {
            config: config.to_owned(),
            kind,
        }
    }
}

/// The kinds of target, by their field name in `DeliveryTargets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum TargetKind {
    Http,
    SendEvent,
    DiscoverEvent,
    Segment,
}

impl TargetKind {
    /// The kinds whose flag is set, given in [`TargetKind::ALL`]'s order.
    pub(super) fn present(flags: [bool; 4]) -> Vec<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .zip(flags)
            .filter_map(|(kind, set)| set.then_some(kind))
            .collect()
    }

    pub const ALL: [TargetKind; 4] = [
        TargetKind::Http,
        TargetKind::SendEvent,
        TargetKind::DiscoverEvent,
        TargetKind::Segment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Http => "Http",
            TargetKind::SendEvent => "SendEvent",
            TargetKind::DiscoverEvent => "DiscoverEvent",
            TargetKind::Segment => "Segment",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        TargetKind::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

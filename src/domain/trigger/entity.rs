//! Entities a trigger carries (or that are PUT on their own): an OrderCloud document and the
//! ID it names itself by.

use serde_json::{Map, Value};

use crate::domain::delivery_config::id_matching_path;
use crate::domain::id::ResourceId;
use crate::domain::validation::{Invalid, InvalidCode};

/// The ID a document gives itself, in `field`: none (absent or null) or a string.
fn own_id<'d>(field: &str, doc: &'d Map<String, Value>) -> Result<Option<&'d str>, Invalid> {
    match doc.get("ID") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(Invalid::new(
            InvalidCode::InvalidId,
            field,
            format!("{field} must be a string."),
        )),
    }
}

/// An entity carried by a trigger or PUT on its own: its ID and the document as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub id: ResourceId,
    pub doc: Map<String, Value>,
}

impl Entity {
    /// An entity a trigger carries in `field`: its document must hold its ID.
    pub(super) fn parse(field: &str, doc: &Map<String, Value>) -> Result<Self, Invalid> {
        let id_field = format!("{field}.ID");
        let id = match own_id(&id_field, doc)? {
            Some(id) => ResourceId::parse(&id_field, id)?,
            None => return Err(Invalid::required(&id_field)),
        };
        Ok(Entity { id, doc: doc.clone() })
    }

    /// An entity PUT at `path_id`: the document's ID, when it gives one, must be the URL's;
    /// the document is stored with it.
    pub fn at_path(path_id: &ResourceId, mut doc: Map<String, Value>) -> Result<Self, Invalid> {
        let id = id_matching_path(own_id("ID", &doc)?, path_id)?;
        doc.insert("ID".into(), Value::String(id.to_string()));
        Ok(Entity { id, doc })
    }

    /// A string field of the document, when it is a valid ID (`ProductID`, `FromUserID`).
    pub fn reference(&self, field: &str) -> Option<ResourceId> {
        self.doc
            .get(field)
            .and_then(Value::as_str)
            .and_then(|v| ResourceId::parse(field, v).ok())
    }
}

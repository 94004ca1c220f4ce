//! The promotions a trigger carries: OrderCloud's `OrderPromotion` documents (`Code`, `Amount`,
//! `Name`, `LineItemID`, …) as the order worksheet lists them. Vendors take every coupon code
//! and discount from them; each is checked here so that a malformed amount is a 400, not a
//! wrong figure in a marketer's report.

use serde_json::{Map, Value};

use crate::domain::id::ResourceId;
use crate::domain::validation::{Invalid, InvalidCode, Invalids};

const MAX_CODE: usize = 100;

/// An `OrderPromotion` as carried: its document, passed on as given, and what vendors read.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    pub doc: Map<String, Value>,
}

impl Promotion {
    /// `OrderPromotions[i]`: `Code` is required (it is the coupon); `Amount`, when given, is a
    /// number of at least zero; `ID` and `LineItemID`, when given, are IDs.
    pub(super) fn parse(field: &str, doc: &Map<String, Value>) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let code_field = format!("{field}.Code");
        match doc.get("Code") {
            Some(Value::String(code)) if !code.trim().is_empty() => {
                if code.chars().count() > MAX_CODE || code.chars().any(char::is_control) {
                    invalids.push(Invalid::new(
                        InvalidCode::InvalidValue,
                        &code_field,
                        format!("{code_field} must be 1 to {MAX_CODE} printable characters."),
                    ));
                }
            }
            None | Some(Value::Null) => invalids.push(Invalid::required(&code_field)),
            Some(_) => invalids.push(Invalid::new(
                InvalidCode::InvalidValue,
                &code_field,
                format!("{code_field} must be a non-blank string."),
            )),
        }
        match doc.get("Amount") {
            None | Some(Value::Null) => {}
            Some(amount) if amount.as_f64().is_some_and(|a| a >= 0.0) => {}
            Some(_) => {
                let amount_field = format!("{field}.Amount");
                invalids.push(Invalid::new(
                    InvalidCode::InvalidValue,
                    &amount_field,
                    format!("{amount_field} must be a number of at least 0."),
                ));
            }
        }
        for id in ["ID", "LineItemID"] {
            match doc.get(id) {
                None | Some(Value::Null) => {}
                Some(Value::String(value)) => {
                    invalids.take(ResourceId::parse(&format!("{field}.{id}"), value));
                }
                Some(_) => {
                    let id_field = format!("{field}.{id}");
                    invalids.push(Invalid::new(
                        InvalidCode::InvalidId,
                        &id_field,
                        format!("{id_field} must be a string."),
                    ));
                }
            }
        }
        invalids.finish(|| Promotion { doc: doc.clone() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: Value) -> Vec<(InvalidCode, String)> {
        match Promotion::parse("OrderPromotions[0]", value.as_object().unwrap()) {
            Ok(_) => Vec::new(),
            Err(invalids) => invalids.0.into_iter().map(|i| (i.code, i.field)).collect(),
        }
    }

    #[test]
    fn a_promotion_needs_its_code_and_a_sound_amount() {
        assert!(fields(json!({"ID": "p1", "Code": "WELCOME2", "Amount": 2.5, "Name": "Welcome"})).is_empty());
        assert!(fields(json!({"Code": "FREESHIP"})).is_empty());
        assert_eq!(
            fields(json!({"Amount": -1, "LineItemID": "bad id"})),
            [
                (InvalidCode::Required, "OrderPromotions[0].Code".to_owned()),
                (InvalidCode::InvalidValue, "OrderPromotions[0].Amount".to_owned()),
                (InvalidCode::InvalidId, "OrderPromotions[0].LineItemID".to_owned()),
            ]
        );
        assert_eq!(
            fields(json!({"Code": " ", "Amount": "2"})),
            [
                (InvalidCode::InvalidValue, "OrderPromotions[0].Code".to_owned()),
                (InvalidCode::InvalidValue, "OrderPromotions[0].Amount".to_owned()),
            ]
        );
    }
}

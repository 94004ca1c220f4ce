//! How deep request documents may nest. serde_json refuses to parse past 128 levels, and
//! Trackway stores documents a few levels deeper than they arrive (a trigger's `LineItem`
//! inside the payload's `LineItems`, a `ConfigData` inside the statements that read it), so a
//! document accepted close to that limit could be stored and then never read back. Requests
//! are held to [`MAX_DEPTH`] instead, and a refusal names the first value too deep.

use std::borrow::Cow;
use std::ops::Range;

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use super::error::{ApiError, ErrorCode};

/// Objects and arrays a request document may nest, its outermost object counting as one: far
/// enough below serde_json's 128 for every place Trackway stores a document in.
pub const MAX_DEPTH: usize = 32;

/// How deep a batch body may nest: its documents are checked against [`MAX_DEPTH`] one by one
/// ([`check_value`]), so that one too deep is refused alone. Below serde_json's 128.
pub const BATCH_MAX_DEPTH: usize = 100;

fn nested_too_deep(field: &str, max_depth: usize) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::NestedTooDeep,
        format!("{field} nests objects and arrays deeper than the {max_depth} levels a document may have."),
        Some(json!({ "Field": field, "MaxDepth": max_depth })),
    )
}

/// One step of the way to a value: a field of an object, or an element of an array.
enum Step<'a> {
    Field(Cow<'a, str>),
    Element(usize),
}

/// A way to a value as fields are named elsewhere (`LineItem.xp.a[0]`); `(body)` for the
/// document itself.
fn render(path: &[Step]) -> String {
    let mut rendered = String::new();
    for step in path {
        match step {
            Step::Field(name) => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                rendered.push_str(name);
            }
            Step::Element(index) => rendered.push_str(&format!("[{index}]")),
        }
    }
    if rendered.is_empty() {
        "(body)".to_owned()
    } else {
        rendered
    }
}

/// Refuses a JSON text nested more than `max` levels, naming the first value too deep.
pub fn check_text(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    match too_deep(bytes, max) {
        Some(path) => Err(nested_too_deep(&render(&path), max)),
        None => Ok(()),
    }
}

/// The way to the first object or array of a JSON text nested more than `max` deep. Only
/// nesting is looked at, in one pass; syntax is serde's to judge.
fn too_deep(bytes: &[u8], max: usize) -> Option<Vec<Step<'_>>> {
    /// An open object (with its last key, and whether a key comes next) or array.
    enum Open {
        Object { key: Range<usize>, key_next: bool },
        Array { index: usize },
    }
    let mut open: Vec<Open> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                let start = at + 1;
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                if let Some(Open::Object { key, key_next }) = open.last_mut() {
                    if *key_next {
                        *key = start..at.min(bytes.len());
                        *key_next = false;
                    }
                }
            }
            b'{' | b'[' if open.len() == max => {
                let path = open.iter().map(|o| match o {
                    Open::Object { key, .. } => Step::Field(String::from_utf8_lossy(&bytes[key.clone()])),
                    Open::Array { index } => Step::Element(*index),
                });
                return Some(path.collect());
            }
            b'{' => open.push(Open::Object {
                key: 0..0,
                key_next: true,
            }),
            b'[' => open.push(Open::Array { index: 0 }),
            b'}' | b']' => {
                open.pop();
            }
            b',' => match open.last_mut() {
                Some(Open::Object { key_next, .. }) => *key_next = true,
                Some(Open::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        at += 1;
    }
    None
}

/// Refuses an already-parsed document (an item of a batch) nested more than [`MAX_DEPTH`].
pub fn check_value(document: &Value) -> Result<(), ApiError> {
    /// Whether `value` opens more than `left` levels; if so, `path` leads to the first
    /// container past them.
    fn too_deep<'a>(value: &'a Value, left: usize, path: &mut Vec<Step<'a>>) -> bool {
        let mut below = |step: Step<'a>, child: &'a Value| {
            path.push(step);
            let deep = too_deep(child, left - 1, path);
            if !deep {
                path.pop();
            }
            deep
        };
        match value {
            Value::Object(_) | Value::Array(_) if left == 0 => true,
            Value::Object(fields) => fields.iter().any(|(k, v)| below(Step::Field(k.into()), v)),
            Value::Array(items) => items.iter().enumerate().any(|(i, v)| below(Step::Element(i), v)),
            _ => false,
        }
    }
    let mut path = Vec::new();
    if too_deep(document, MAX_DEPTH, &mut path) {
        return Err(nested_too_deep(&render(&path), MAX_DEPTH));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"LineItem":{"xp":[[…]]}}` with `levels` objects and arrays in all.
    fn nested(levels: usize) -> String {
        let arrays = levels - 2;
        format!(
            r#"{{"LineItem":{{"xp":{}{}}}}}"#,
            "[".repeat(arrays),
            "]".repeat(arrays)
        )
    }

    #[test]
    fn a_document_may_nest_to_the_limit_and_not_one_level_more() {
        assert!(too_deep(nested(MAX_DEPTH).as_bytes(), MAX_DEPTH).is_none());
        let past = nested(MAX_DEPTH + 1);
        let path = too_deep(past.as_bytes(), MAX_DEPTH).expect("too deep");
        let expected = format!("LineItem.xp{}", "[0]".repeat(MAX_DEPTH - 2));
        assert_eq!(render(&path), expected);
        let err = serde_json::to_value(check_text(past.as_bytes(), MAX_DEPTH).unwrap_err().body()).unwrap();
        assert_eq!(err["Errors"][0]["ErrorCode"], "NestedTooDeep");
        assert_eq!(err["Errors"][0]["Data"]["Field"], expected);
    }

    #[test]
    fn the_way_to_a_deep_value_names_keys_and_indexes_and_skips_strings() {
        let text = r#"{"a":"{[{[","b":[1,{"c":{}},{"d\"e":{"f":[[]]}}]}"#;
        assert_eq!(render(&too_deep(text.as_bytes(), 5).unwrap()), r#"b[2].d\"e.f[0]"#);
        assert!(too_deep(text.as_bytes(), 6).is_none());
        assert_eq!(render(&too_deep(b"[[]]", 1).unwrap()), "[0]");
        assert_eq!(render(&too_deep(b"{}", 0).unwrap()), "(body)");
    }

    #[test]
    fn parsed_documents_are_held_to_the_same_limit() {
        let at_limit: Value = serde_json::from_str(&nested(MAX_DEPTH)).unwrap();
        assert!(check_value(&at_limit).is_ok());
        let past: Value = serde_json::from_str(&nested(MAX_DEPTH + 1)).unwrap();
        let err = serde_json::to_value(check_value(&past).unwrap_err().body()).unwrap();
        assert_eq!(
            err["Errors"][0]["Data"]["Field"],
            format!("LineItem.xp{}", "[0]".repeat(MAX_DEPTH - 2))
        );
    }
}

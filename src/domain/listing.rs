//! List options, OrderCloud style: `page`, `pageSize` (≤100), `search` + `searchOn`, `sortBy`
//! (`!` for descending) and filters on any listed field (`?EventType=OrderSubmitted`,
//! `?Name=promo*`, `?ID=!cfg1`, `?EventType=LineItemAdded|LineItemUpdated`).
//!
//! Filter semantics: `|` separates alternatives; the positive ones are ORed, each `!`-negated
//! one must also not match, and `*` matches any run of characters. Text matching is
//! case-insensitive. Different fields are ANDed.

use chrono::{DateTime, NaiveDate, Utc};

use super::validation::{Invalid, InvalidCode};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// A field a list can be searched, sorted and filtered on, by its API name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListField {
    pub name: &'static str,
    pub kind: FieldKind,
    /// Searched when the request names no `searchOn`.
    pub searched_by_default: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Bool,
    /// A timestamp: filters take `>`, `>=`, `<`, `<=` before an RFC 3339 time or a date.
    Time,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub page: u32,
    pub page_size: u32,
    pub search: Option<Search>,
    pub sort: Vec<Sort>,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// What to look for, as a case-insensitive substring.
    pub term: String,
    pub fields: Vec<ListField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub field: ListField,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: ListField,
    /// Alternatives of which at least one must match (none given: no constraint).
    pub any_of: Vec<FilterValue>,
    /// Alternatives none of which may match.
    pub none_of: Vec<FilterValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// A case-insensitive SQL LIKE pattern with `\` as the escape character.
    Like(String),
    Bool(bool),
    Compare(Comparison, DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    pub fn sql(self) -> &'static str {
        match self {
            Comparison::Equal => " = ",
            Comparison::Greater => " > ",
            Comparison::GreaterOrEqual => " >= ",
            Comparison::Less => " < ",
            Comparison::LessOrEqual => " <= ",
        }
    }
}

impl ListQuery {
    /// Parses the query string pairs of a list request against the fields the resource offers.
    pub fn parse(pairs: &[(String, String)], fields: &[ListField]) -> Result<Self, Invalid> {
        let mut query = ListQuery {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
            search: None,
            sort: Vec::new(),
            filters: Vec::new(),
        };
        let mut search_term = None;
        let mut search_on = None;
        for (key, value) in pairs {
            if key.contains('\0') || value.contains('\0') {
                return Err(Invalid::new(
                    InvalidCode::InvalidQuery,
                    key,
                    "Query parameters may not contain the NUL character.",
                ));
            }
            match key.to_ascii_lowercase().as_str() {
                "page" => query.page = parse_number("page", value, 1, u32::MAX)?,
                "pagesize" => query.page_size = parse_number("pageSize", value, 1, MAX_PAGE_SIZE)?,
                "search" => search_term = Some(value.clone()).filter(|v| !v.is_empty()),
                "searchon" => search_on = Some(parse_field_list("searchOn", value, fields)?),
                "sortby" => {
                    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        let (descending, name) = match name.strip_prefix('!') {
                            Some(rest) => (true, rest),
                            None => (false, name),
                        };
                        let field = find_field("sortBy", name, fields)?;
                        query.sort.push(Sort { field, descending });
                    }
                }
                _ => {
                    let field = find_field(key, key, fields)?;
                    query.filters.push(parse_filter(field, value)?);
                }
            }
        }
        query.search = search_term.map(|term| Search {
            term,
            fields: search_on.unwrap_or_else(|| fields.iter().copied().filter(|f| f.searched_by_default).collect()),
        });
        Ok(query)
    }

    /// Rows to skip for this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size)
    }
}

fn parse_number(name: &str, value: &str, min: u32, max: u32) -> Result<u32, Invalid> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            Invalid::new(
                InvalidCode::InvalidQuery,
                name,
                format!("{name} must be a whole number from {min} to {max}; got {value:?}."),
            )
        })
}

fn parse_field_list(param: &str, value: &str, fields: &[ListField]) -> Result<Vec<ListField>, Invalid> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| find_field(param, name, fields))
        .collect()
}

fn find_field(param: &str, name: &str, fields: &[ListField]) -> Result<ListField, Invalid> {
    fields
        .iter()
        .copied()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let allowed: Vec<String> = fields.iter().map(|f| f.name.to_owned()).collect();
            Invalid {
                code: InvalidCode::InvalidQuery,
                field: param.to_owned(),
                message: format!(
                    "{name:?} is not a field this list can be searched, sorted or filtered on; allowed: {}.",
                    allowed.join(", ")
                ),
                allowed: Some(allowed),
            }
        })
}

fn parse_filter(field: ListField, value: &str) -> Result<Filter, Invalid> {
    let mut filter = Filter {
        field,
        any_of: Vec::new(),
        none_of: Vec::new(),
    };
    for alternative in value.split('|') {
        let (negated, text) = match alternative.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, alternative),
        };
        let parsed = match field.kind {
            FieldKind::Text => FilterValue::Like(like_pattern(text)),
            FieldKind::Bool => match text.to_ascii_lowercase().as_str() {
                "true" => FilterValue::Bool(true),
                "false" => FilterValue::Bool(false),
                _ => {
                    return Err(Invalid::new(
                        InvalidCode::InvalidQuery,
                        field.name,
                        format!("Filter {} takes true or false; got {text:?}.", field.name),
                    ))
                }
            },
            FieldKind::Time => parse_comparison(field, text)?,
        };
        if negated {
            filter.none_of.push(parsed);
        } else {
            filter.any_of.push(parsed);
        }
    }
    Ok(filter)
}

fn parse_comparison(field: ListField, text: &str) -> Result<FilterValue, Invalid> {
    let (comparison, rest) = [
        (">=", Comparison::GreaterOrEqual),
        ("<=", Comparison::LessOrEqual),
        (">", Comparison::Greater),
        ("<", Comparison::Less),
    ]
    .into_iter()
    .find_map(|(prefix, c)| text.strip_prefix(prefix).map(|rest| (c, rest)))
    .unwrap_or((Comparison::Equal, text));
    let time = DateTime::parse_from_rfc3339(rest)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(rest, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        });
    time.map(|t| FilterValue::Compare(comparison, t)).ok_or_else(|| {
        Invalid::new(
            InvalidCode::InvalidQuery,
            field.name,
            format!(
                "Filter {} takes a time such as >2026-11-01 or <=2026-11-22T10:00:00Z; got {text:?}.",
                field.name
            ),
        )
    })
}

/// Turns an OrderCloud filter value into a LIKE pattern: `*` is the wildcard, and LIKE's own
/// metacharacters are escaped so that `50%_off` matches only itself.
pub fn like_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '*' => pattern.push('%'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            c => pattern.push(c),
        }
    }
    pattern
}

/// A LIKE pattern matching `term` anywhere (`*` still a wildcard inside it).
pub fn contains_pattern(term: &str) -> String {
    format!("%{}%", like_pattern(term))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[ListField] = &[
        ListField {
            name: "ID",
            kind: FieldKind::Text,
            searched_by_default: true,
        },
        ListField {
            name: "Name",
            kind: FieldKind::Text,
            searched_by_default: true,
        },
        ListField {
            name: "EventType",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        ListField {
            name: "Enabled",
            kind: FieldKind::Bool,
            searched_by_default: false,
        },
    ];

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply_without_parameters() {
        let q = ListQuery::parse(&[], FIELDS).unwrap();
        assert_eq!((q.page, q.page_size, q.offset()), (1, 20, 0));
        assert!(q.search.is_none() && q.sort.is_empty() && q.filters.is_empty());
    }

    #[test]
    fn paging_is_bounded() {
        let q = ListQuery::parse(&pairs(&[("page", "3"), ("PageSize", "100")]), FIELDS).unwrap();
        assert_eq!(q.offset(), 200);
        for (k, v) in [("pageSize", "101"), ("pageSize", "0"), ("page", "0"), ("page", "x")] {
            let err = ListQuery::parse(&pairs(&[(k, v)]), FIELDS).unwrap_err();
            assert_eq!(err.code, InvalidCode::InvalidQuery, "{k}={v}");
        }
    }

    #[test]
    fn sort_and_search_name_known_fields() {
        let q = ListQuery::parse(&pairs(&[("sortBy", "!Name,id"), ("search", "abc")]), FIELDS).unwrap();
        assert_eq!(
            q.sort.iter().map(|s| (s.field.name, s.descending)).collect::<Vec<_>>(),
            [("Name", true), ("ID", false)]
        );
        let search = q.search.unwrap();
        assert_eq!(search.fields.iter().map(|f| f.name).collect::<Vec<_>>(), ["ID", "Name"]);
        let q = ListQuery::parse(&pairs(&[("search", "abc"), ("searchOn", "EventType")]), FIELDS).unwrap();
        assert_eq!(q.search.unwrap().fields[0].name, "EventType");
        let err = ListQuery::parse(&pairs(&[("sortBy", "Color")]), FIELDS).unwrap_err();
        assert!(
            err.message.contains("allowed: ID, Name, EventType, Enabled"),
            "{}",
            err.message
        );
    }

    #[test]
    fn filters_support_wildcards_negation_and_alternatives() {
        let q = ListQuery::parse(&pairs(&[("eventtype", "Line*|!LineItemAdded|Order_1")]), FIELDS).unwrap();
        let f = &q.filters[0];
        assert_eq!(f.field.name, "EventType");
        assert_eq!(
            f.any_of,
            [FilterValue::Like("Line%".into()), FilterValue::Like("Order\\_1".into())]
        );
        assert_eq!(f.none_of, [FilterValue::Like("LineItemAdded".into())]);
        let q = ListQuery::parse(&pairs(&[("Enabled", "false")]), FIELDS).unwrap();
        assert_eq!(q.filters[0].any_of, [FilterValue::Bool(false)]);
        assert!(ListQuery::parse(&pairs(&[("Enabled", "maybe")]), FIELDS).is_err());
        assert!(ListQuery::parse(&pairs(&[("Colour", "red")]), FIELDS).is_err());
    }

    #[test]
    fn time_filters_take_comparisons() {
        const TIMES: &[ListField] = &[ListField {
            name: "Date",
            kind: FieldKind::Time,
            searched_by_default: false,
        }];
        let q = ListQuery::parse(
            &pairs(&[("Date", ">=2026-11-01"), ("date", "<2026-11-22T10:00:00Z")]),
            TIMES,
        )
        .unwrap();
        assert_eq!(
            q.filters[0].any_of,
            [FilterValue::Compare(
                Comparison::GreaterOrEqual,
                "2026-11-01T00:00:00Z".parse().unwrap()
            )]
        );
        assert_eq!(
            q.filters[1].any_of,
            [FilterValue::Compare(
                Comparison::Less,
                "2026-11-22T10:00:00Z".parse().unwrap()
            )]
        );
        assert!(ListQuery::parse(&pairs(&[("Date", ">soon")]), TIMES).is_err());
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern("50%_off\\*"), "50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
    }
}

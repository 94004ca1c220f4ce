//! List responses: `{"Meta":{...},"Items":[...]}` as OrderCloud returns them.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::domain::listing::ListQuery;
use crate::storage::Page;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListPage<T: ToSchema> {
    pub meta: Meta,
    pub items: Vec<T>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Meta {
    pub page: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub total_pages: u64,
    /// 1-based positions of the first and last item on this page; `[0, 0]` when it is empty.
    pub item_range: [u64; 2],
}

impl<T: ToSchema> ListPage<T> {
    pub fn new(query: &ListQuery, page: Page<T>) -> Self {
        let size = u64::from(query.page_size);
        let first = query.offset() + 1;
        let count = page.items.len() as u64;
        ListPage {
            meta: Meta {
                page: query.page,
                page_size: query.page_size,
                total_count: page.total,
                total_pages: page.total.div_ceil(size),
                item_range: if count == 0 { [0, 0] } else { [first, first + count - 1] },
            },
            items: page.items,
        }
    }
}

/// The list options every list takes. Any other parameter filters on the field it names:
/// `?EventType=OrderSubmitted`, `?Name=promo*` (`*` wildcard), `?ID=!abc` (`!` negates),
/// `?EventType=LineItemAdded|LineItemUpdated` (`|` for alternatives).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case, dead_code)]
pub struct ListParams {
    /// 1-based page number (default 1).
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pageSize: Option<u32>,
    /// Case-insensitive substring to look for.
    search: Option<String>,
    /// Comma-separated fields to search (default: ID and Name).
    searchOn: Option<String>,
    /// Comma-separated fields to sort by; `!` before a field sorts it descending.
    sortBy: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_describes_the_page() {
        let query = ListQuery::parse(&[("page".into(), "2".into()), ("pageSize".into(), "2".into())], &[]).unwrap();
        let page = ListPage::new(
            &query,
            Page {
                items: vec![7u32],
                total: 3,
            },
        );
        assert_eq!(page.meta.total_pages, 2);
        assert_eq!(page.meta.item_range, [3, 3]);
        let empty = ListPage::new(
            &query,
            Page {
                items: Vec::<u32>::new(),
                total: 0,
            },
        );
        assert_eq!((empty.meta.total_pages, empty.meta.item_range), (0, [0, 0]));
    }
}

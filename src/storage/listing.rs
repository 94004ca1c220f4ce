//! Turns a [`ListQuery`] into SQL: `WHERE` from search and filters, `ORDER BY`, `LIMIT/OFFSET`.
//! Column expressions come only from each aggregate's constant table, never from the request;
//! every request value is a bind parameter.

use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::listing::{contains_pattern, FilterValue, ListField, ListQuery};

/// One page of a list and the total across all pages.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

impl<T> Page<T> {
    /// The same page with each item converted.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(convert).collect(),
            total: self.total,
        }
    }
}

/// An API field and the SQL expression it reads.
pub struct Column {
    pub field: ListField,
    pub sql: &'static str,
}

pub fn fields(columns: &[Column]) -> Vec<ListField> {
    columns.iter().map(|c| c.field).collect()
}

fn sql_of(columns: &[Column], field: &ListField) -> &'static str {
    columns
        .iter()
        .find(|c| c.field.name == field.name)
        .map(|c| c.sql)
        .unwrap_or("NULL")
}

fn push_where(builder: &mut QueryBuilder<'_, Postgres>, columns: &[Column], query: &ListQuery) {
    builder.push(" WHERE true");
    if let Some(search) = &query.search {
        let pattern = contains_pattern(&search.term);
        builder.push(" AND (false");
        for field in &search.fields {
            builder
                .push(" OR ")
                .push(sql_of(columns, field))
                .push(" ILIKE ")
                .push_bind(pattern.clone());
        }
        builder.push(")");
    }
    for filter in &query.filters {
        let sql = sql_of(columns, &filter.field);
        if !filter.any_of.is_empty() {
            builder.push(" AND (false");
            for value in &filter.any_of {
                builder.push(" OR ");
                push_match(builder, sql, value);
            }
            builder.push(")");
        }
        for value in &filter.none_of {
            builder.push(" AND NOT coalesce(");
            push_match(builder, sql, value);
            builder.push(", false)");
        }
    }
}

fn push_match(builder: &mut QueryBuilder<'_, Postgres>, sql: &'static str, value: &FilterValue) {
    match value {
        FilterValue::Like(pattern) => builder.push(sql).push(" ILIKE ").push_bind(pattern.clone()),
        FilterValue::Bool(b) => builder.push(sql).push(" = ").push_bind(*b),
        FilterValue::Compare(comparison, time) => builder.push(sql).push(comparison.sql()).push_bind(*time),
    };
}

/// Runs a list: `select` is `SELECT <columns> FROM <table>`, `tie_break` the unique column that
/// makes the order total (so pages never overlap or skip).
pub async fn list<T>(
    pool: &PgPool,
    select: &'static str,
    from: &'static str,
    tie_break: &'static str,
    columns: &[Column],
    query: &ListQuery,
) -> Result<Page<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut count = QueryBuilder::new("SELECT count(*) FROM ");
    count.push(from);
    push_where(&mut count, columns, query);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut rows = QueryBuilder::new(select);
    rows.push(" FROM ").push(from);
    push_where(&mut rows, columns, query);
    rows.push(" ORDER BY ");
    for sort in &query.sort {
        rows.push(sql_of(columns, &sort.field))
            .push(if sort.descending { " DESC, " } else { " ASC, " });
    }
    rows.push(tie_break)
        .push(" ASC LIMIT ")
        .push_bind(i64::from(query.page_size))
        .push(" OFFSET ")
        .push_bind(i64::try_from(query.offset()).unwrap_or(i64::MAX));
    let items = rows.build_query_as::<T>().fetch_all(pool).await?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
    })
}

//! A statement's parameters, bound where its SQL is written: [`Params::bind`] adds a value and
//! answers the placeholder (`$1`, `$2`…) that stands for it, so the SQL that uses a value is
//! formatted with the very placeholder it was given, and a reader checks each parameter on the
//! line that uses it rather than by counting binds across files.

use std::fmt;

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Postgres};

/// The parameters of one statement, numbered in the order they are bound.
#[derive(Default)]
pub(crate) struct Params {
    args: PgArguments,
}

/// The placeholder of a bound parameter: `$n`, as SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placeholder(usize);

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

impl Params {
    /// Adds `value` as the statement's next parameter; its placeholder goes in the SQL.
    pub fn bind<'q, T>(&mut self, value: T) -> Result<Placeholder, sqlx::Error>
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        self.args.add(value).map_err(sqlx::Error::Encode)?;
        Ok(Placeholder(self.args.len()))
    }

    /// The values bound, for `sqlx::query_with`.
    pub fn into_arguments(self) -> PgArguments {
        self.args
    }
}

/// One column of `rows`, to bind as an array (the statements take rows as `unnest` of arrays).
pub(crate) fn column<'r, R, T>(rows: &'r [R], value: impl FnMut(&'r R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_bound_is_given_the_next_placeholder() -> Result<(), sqlx::Error> {
        let mut params = Params::default();
        let first = params.bind(vec!["a", "b"])?;
        let second = params.bind(7_i32)?;
        assert_eq!((first.to_string(), second.to_string()), ("$1".into(), "$2".into()));
        assert_eq!(params.into_arguments().len(), 2);
        Ok(())
    }
}

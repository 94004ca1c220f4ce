//! How columns are read into Trackway's types. The domain's closed lists are stored as `text`
//! columns, each with a CHECK listing the same values: bound as their names and read back as
//! their Rust enums, so that a value outside the list is an error where it is read, not a
//! string passed on. A document read with [`Readable`] never fails its row.

use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::types::Json;
use sqlx::{Decode, Encode, Postgres, Type};

use crate::domain::attempt::FailureKind;
use crate::domain::delivery::DeliveryStatus;

macro_rules! stored_as_text {
    ($($enum:ty),*) => {$(
        impl Type<Postgres> for $enum {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $enum {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl Encode<'_, Postgres> for $enum {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $enum {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<Postgres>>::decode(value)?;
                <$enum>::parse(text).ok_or_else(|| format!("{text:?} is not a {}", stringify!($enum)).into())
            }
        }
    )*};
}

stored_as_text!(DeliveryStatus, FailureKind);

/// A `jsonb` value read without failing its row: a document the JSON parser refuses is kept
/// as the parser's error, so that one bad row cannot fail a statement that reads many.
#[derive(Debug)]
pub(crate) struct Readable(pub Result<Value, String>);

impl sqlx::Type<Postgres> for Readable {
    fn type_info() -> PgTypeInfo {
        <Json<Value> as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Json<Value> as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Readable {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let document = <Json<Value> as sqlx::Decode<Postgres>>::decode(value);
        Ok(Readable(document.map(|json| json.0).map_err(|err| err.to_string())))
    }
}

//! Reading the hydrated payload the way vendor formats need it: who the event is about, the
//! order's money fields and each line item joined with its product. Every vendor module maps
//! from these views, so they agree on what "price" or "the user's email" means.
//!
//! OrderCloud fields used: `LineItem.{ID, ProductID, Quantity, UnitPrice, LineTotal, Variant.ID,
//! Product.Name}`, `Product.{ID, Name, xp.sku, xp.category, xp.brand, xp.url, xp.image_url}`,
//! `Order.{ID, Total, Subtotal, ShippingCost, TaxCost, PromotionDiscount, Currency, xp.coupon}`,
//! `User.{ID, Email, FirstName, LastName, Username}`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The event a vendor request is built for.
pub struct Event<'a> {
    pub payload: &'a Value,
    /// The delivery's ID: vendors that deduplicate get it as their message ID.
    pub delivery_id: &'a str,
}

impl<'a> Event<'a> {
    pub fn event_type(&self) -> &str {
        self.payload["EventType"].as_str().unwrap_or_default()
    }

    pub fn user_id(&self) -> Option<&str> {
        self.payload["UserContext"]["ID"].as_str()
    }

    pub fn anonymous_id(&self) -> Option<&str> {
        self.payload["UserContext"]["AnonymousId"].as_str()
    }

    pub fn user(&self) -> &Value {
        &self.payload["User"]
    }

    pub fn email(&self) -> Option<&str> {
        self.user()["Email"].as_str()
    }

    /// "First Last", else the username.
    pub fn full_name(&self) -> Option<String> {
        let user = self.user();
        let parts: Vec<&str> = ["FirstName", "LastName"]
            .iter()
            .filter_map(|f| user[*f].as_str())
            .collect();
        if parts.is_empty() {
            user["Username"].as_str().map(str::to_owned)
        } else {
            Some(parts.join(" "))
        }
    }

    /// When the event happened (the payload's `Date`).
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.payload["Date"]
            .as_str()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map_or_else(Utc::now, |d| d.with_timezone(&Utc))
    }

    pub fn order(&self) -> Option<Order> {
        self.payload["Order"].as_object().map(|order| Order {
            id: text(order, "ID"),
            total: number(order, "Total"),
            subtotal: number(order, "Subtotal"),
            shipping: number(order, "ShippingCost"),
            tax: number(order, "TaxCost"),
            discount: number(order, "PromotionDiscount"),
            currency: text(order, "Currency"),
            coupon: order.get("xp").and_then(|xp| xp["coupon"].as_str()).map(str::to_owned),
        })
    }

    /// The changed line item (LineItem events).
    pub fn line_item(&self) -> Option<Item> {
        self.payload["LineItem"].as_object().map(|li| self.item(li))
    }

    /// All the order's line items.
    pub fn line_items(&self) -> Vec<Item> {
        self.payload["LineItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|li| self.item(li))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The viewed product (ProductViewed): the first of `Products`.
    pub fn viewed_product(&self) -> Option<Item> {
        let product = self.payload["Products"].as_array()?.first()?.as_object()?;
        let id = text(product, "ID")?;
        Some(Item::from_product(&id, Some(product), None))
    }

    fn product(&self, id: &str) -> Option<&Map<String, Value>> {
        self.payload["Products"]
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .find(|p| p.get("ID").and_then(Value::as_str) == Some(id))
    }

    fn item(&self, line_item: &Map<String, Value>) -> Item {
        let product_id = text(line_item, "ProductID").unwrap_or_default();
        Item::from_product(&product_id, self.product(&product_id), Some(line_item))
    }
}

/// A line item joined with its product.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub product_id: String,
    /// The product's `xp.sku`, else its ID.
    pub sku: String,
    pub name: Option<String>,
    /// Unit price.
    pub price: Option<f64>,
    pub quantity: Option<f64>,
    /// The line's total after discounts (`LineTotal`, else price × quantity).
    pub line_total: Option<f64>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub variant: Option<String>,
    pub url: Option<String>,
    pub image_url: Option<String>,
}

impl Item {
    fn from_product(product_id: &str, product: Option<&Map<String, Value>>, line: Option<&Map<String, Value>>) -> Self {
        let xp = |field: &str| {
            product
                .and_then(|p| p.get("xp"))
                .and_then(|xp| xp[field].as_str())
                .map(str::to_owned)
        };
        let price = line.and_then(|l| number(l, "UnitPrice"));
        let quantity = line.and_then(|l| number(l, "Quantity"));
        let line_total = line
            .and_then(|l| number(l, "LineTotal"))
            .or_else(|| price.zip(quantity).map(|(p, q)| p * q));
        Item {
            product_id: product_id.to_owned(),
            sku: xp("sku").unwrap_or_else(|| product_id.to_owned()),
            name: product.and_then(|p| text(p, "Name")).or_else(|| {
                line.and_then(|l| l.get("Product"))
                    .and_then(|p| p["Name"].as_str())
                    .map(str::to_owned)
            }),
            price,
            quantity,
            line_total,
            category: xp("category"),
            brand: xp("brand"),
            variant: line
                .and_then(|l| l.get("Variant"))
                .and_then(|v| v["ID"].as_str())
                .map(str::to_owned),
            url: xp("url"),
            image_url: xp("image_url"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: Option<String>,
    pub total: Option<f64>,
    pub subtotal: Option<f64>,
    pub shipping: Option<f64>,
    pub tax: Option<f64>,
    pub discount: Option<f64>,
    pub currency: Option<String>,
    pub coupon: Option<String>,
}

fn text(map: &Map<String, Value>, field: &str) -> Option<String> {
    map.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn number(map: &Map<String, Value>, field: &str) -> Option<f64> {
    map.get(field).and_then(Value::as_f64)
}

/// What a vendor module makes of an event: a request, or a reason not to send one.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Request(super::client::PreparedRequest),
    /// The vendor has no way to express this event (recorded as `Skipped`).
    Skip(String),
}

/// A JSON object of the fields that have a value.
pub fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
            .collect(),
    )
}

/// `Some(json)` of any serialisable value.
pub fn some<T: serde::Serialize>(value: T) -> Option<Value> {
    serde_json::to_value(value).ok().filter(|v| !v.is_null())
}

/// A quantity as JSON: an integer when it is whole (vendors type quantities as integers).
pub fn quantity(q: f64) -> Value {
    if q.fract() == 0.0 && q.abs() < 9e15 {
        Value::from(q as i64)
    } else {
        Value::from(q)
    }
}

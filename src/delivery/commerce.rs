//! Reading the hydrated payload the way vendor formats need it: who the event is about, the
//! order's money fields and each line item joined with its product. Every vendor module maps
//! from these views, so they agree on what "price" or "the user's email" means.
//!
//! OrderCloud fields used: `LineItem.{ID, ProductID, Quantity, UnitPrice, LineTotal, Variant.ID,
//! Product.Name}`, `Product.{ID, Name, PriceSchedule.{Currency, PriceBreaks[0].Price}, xp.sku,
//! xp.category, xp.brand, xp.url, xp.image_url}`, `Order.{ID, Total, Subtotal, ShippingCost,
//! TaxCost, PromotionDiscount, Currency}`, `OrderPromotions[].{Code, Name, Amount}`,
//! `User.{ID, Email, FirstName, LastName, Username}`, and the trigger's `Context`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::money;
use crate::domain::targets::TargetKind;
use crate::domain::trigger::Context;

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

    /// The trigger's `Context` (empty when it had none).
    pub fn context(&self) -> Context {
        serde_json::from_value(self.payload["Context"].clone()).unwrap_or_default()
    }

    /// The promotion applied last: the latest `DateApplied`, else the last listed (OrderCloud
    /// lists an order's promotions in the order they were applied).
    pub fn last_promotion(&self) -> Option<Promotion> {
        let mut promotions = self.promotions();
        let latest = (0..promotions.len()).max_by_key(|&i| (promotions[i].applied_at, i))?;
        Some(promotions.swap_remove(latest))
    }

    /// The promotions applied to the order, as the trigger carried them.
    pub fn promotions(&self) -> Vec<Promotion> {
        self.payload["OrderPromotions"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(Value::as_object)
                    .map(|p| Promotion {
                        code: text(p, "Code"),
                        name: text(p, "Name"),
                        amount: number(p, "Amount"),
                        applied_at: text(p, "DateApplied")
                            .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                            .map(|d| d.with_timezone(&Utc)),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The event name the TrackingEvent's `ConfigData.EventNames` gives `target`, if any.
    pub fn event_name_override(&self, target: TargetKind) -> Option<&str> {
        self.payload["TrackingEvent"]["ConfigData"]["EventNames"][target.as_str()].as_str()
    }

    /// The order, its coupon and discount taken from the promotions: `coupon` is their codes
    /// (comma-separated), `discount` the order's `PromotionDiscount`, else their amounts' sum.
    pub fn order(&self) -> Option<Order> {
        let promotions = self.promotions();
        let codes: Vec<&str> = promotions.iter().filter_map(|p| p.code.as_deref()).collect();
        let promoted: Option<f64> = promotions.iter().filter_map(|p| p.amount).reduce(|a, b| a + b);
        self.payload["Order"].as_object().map(|order| {
            let currency = text(order, "Currency");
            Order {
                id: text(order, "ID"),
                total: number(order, "Total"),
                subtotal: number(order, "Subtotal"),
                shipping: number(order, "ShippingCost"),
                tax: number(order, "TaxCost"),
                discount: number(order, "PromotionDiscount").or(promoted.map(|d| money::round(d, currency.as_deref()))),
                coupon: (!codes.is_empty()).then(|| codes.join(",")),
                currency,
            }
        })
    }

    /// How the line's quantity changed: all of it added (LineItemAdded) or removed
    /// (LineItemRemoved), or for LineItemUpdated the difference from `PreviousQuantity`.
    pub fn quantity_change(&self) -> QuantityChange {
        let quantity = self.payload["LineItem"]["Quantity"].as_f64().unwrap_or(1.0);
        match self.event_type() {
            "LineItemRemoved" => QuantityChange::Removed(quantity),
            "LineItemUpdated" => match self.payload["PreviousQuantity"].as_f64() {
                None => QuantityChange::Unknown,
                Some(before) if quantity > before => QuantityChange::Added(quantity - before),
                Some(before) if quantity < before => QuantityChange::Removed(before - quantity),
                Some(before) => QuantityChange::Unchanged(before),
            },
            _ => QuantityChange::Added(quantity),
        }
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

    /// The viewed product (ProductViewed): the first of `Products`, priced by its
    /// `PriceSchedule`'s first price break (OrderCloud's price for one unit), when it has one.
    pub fn viewed_product(&self) -> Option<(Item, Option<String>)> {
        let product = self.payload["Products"].as_array()?.first()?.as_object()?;
        let id = text(product, "ID")?;
        let mut item = Item::from_product(&id, Some(product), None);
        let schedule = product.get("PriceSchedule").and_then(Value::as_object);
        item.price = schedule.and_then(|s| s.get("PriceBreaks")?.get(0)?.get("Price")?.as_f64());
        item.line_total = item.price;
        Some((item, schedule.and_then(|s| text(s, "Currency"))))
    }

    fn product(&self, id: &str) -> Option<&Map<String, Value>> {
        catalog_product(self.payload, id)
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
                .filter(|v| !v.trim().is_empty())
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

/// How a line item event changed the cart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantityChange {
    /// This many units were added.
    Added(f64),
    /// This many units were removed.
    Removed(f64),
    /// A LineItemUpdated that left the quantity as it was.
    Unchanged(f64),
    /// A LineItemUpdated of a line the store did not hold: the change cannot be told.
    Unknown,
}

impl QuantityChange {
    /// Why a vendor that only records additions sends nothing for this change, if it does not.
    pub fn not_an_addition(self) -> Option<String> {
        match self {
            QuantityChange::Added(_) => None,
            QuantityChange::Removed(units) => Some(format!(
                "the line's quantity went down by {units}: only additions to the cart are sent"
            )),
            QuantityChange::Unchanged(units) => Some(format!("the line's quantity did not change ({units})")),
            QuantityChange::Unknown => Some(
                "the line's previous quantity is unknown (Trackway never stored the line), so the change \
                 cannot be told"
                    .into(),
            ),
        }
    }
}

/// A promotion applied to the order.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    pub code: Option<String>,
    pub name: Option<String>,
    pub amount: Option<f64>,
    /// OrderCloud's `DateApplied`.
    pub applied_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
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

impl Order {
    /// The subtotal after the promotion discount, before shipping and tax (Segment's
    /// `subtotal`, Discover's checkout `subtotal`).
    pub fn discounted_subtotal(&self) -> Option<f64> {
        self.subtotal.map(|s| self.money(s - self.discount.unwrap_or(0.0)))
    }

    /// A derived amount rounded to the order's currency.
    pub fn money(&self, amount: f64) -> f64 {
        money::round(amount, self.currency.as_deref())
    }
}

/// The product of the payload's `Products` with ID `id`.
pub fn catalog_product<'a>(payload: &'a Value, id: &str) -> Option<&'a Map<String, Value>> {
    payload["Products"]
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|p| p.get("ID").and_then(Value::as_str) == Some(id))
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

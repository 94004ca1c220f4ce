//! A trigger's `Context`: where and how the shopper acted — the page, the browser session, the
//! campaign that brought them. Every field is optional; each is checked here so that a vendor
//! never receives a malformed URL or locale. Vendors read it from the payload's `Context`
//! (Segment's `context`, Sitecore Send's `Url` and `sessionId`, Sitecore Discover's page
//! context). `Ip` and `UserAgent` are personal data: they travel to destinations but are never
//! written to a log.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use crate::domain::validation::{optional_text, Invalid, InvalidCode, Invalids};

const MAX_TEXT: usize = 200;
const MAX_LONG_TEXT: usize = 1024;
const MAX_URL: usize = 2048;

/// Where and how the shopper acted. Serialized into the payload as given (fields that were not
/// given are left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Context {
    /// The shopper's IP address (IPv4 or IPv6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The shopper's browser `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// A BCP 47 language tag, e.g. `en-US`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The browser session the event belongs to (e.g. Sitecore Send's tracker session).
    #[serde(rename = "SessionID", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The page the shopper came from: an absolute http(s) URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Campaign>,
}

/// The page the trigger came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Page {
    /// An absolute http(s) URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL's path, starting with `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The storefront's name for the page (`home`, `pdp`, `category`, `cart`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The campaign that brought the shopper (the `utm_` parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Campaign {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl Context {
    /// The context as given, trimmed, every field checked; `None` when it holds nothing.
    pub fn parse(doc: &Context) -> Result<Option<Context>, Invalids> {
        let mut invalids = Invalids::default();
        let mut text = |field: &str, value: &Option<String>, max: usize| {
            invalids
                .take(optional_text(&format!("Context.{field}"), value.as_deref(), max))
                .flatten()
                .and_then(|t| invalids.take(printable(&format!("Context.{field}"), t)))
        };
        let mut context = Context {
            ip: text("Ip", &doc.ip, MAX_TEXT),
            user_agent: text("UserAgent", &doc.user_agent, MAX_LONG_TEXT),
            locale: text("Locale", &doc.locale, MAX_TEXT),
            session_id: text("SessionID", &doc.session_id, MAX_TEXT),
            referrer: text("Referrer", &doc.referrer, MAX_URL),
            page: doc.page.as_ref().map(|page| Page {
                url: text("Page.Url", &page.url, MAX_URL),
                path: text("Page.Path", &page.path, MAX_URL),
                title: text("Page.Title", &page.title, MAX_LONG_TEXT),
                name: text("Page.Name", &page.name, MAX_TEXT),
            }),
            campaign: doc.campaign.as_ref().map(|campaign| Campaign {
                name: text("Campaign.Name", &campaign.name, MAX_TEXT),
                source: text("Campaign.Source", &campaign.source, MAX_TEXT),
                medium: text("Campaign.Medium", &campaign.medium, MAX_TEXT),
                term: text("Campaign.Term", &campaign.term, MAX_TEXT),
                content: text("Campaign.Content", &campaign.content, MAX_TEXT),
            }),
        };
        if let Some(ip) = &context.ip {
            if ip.parse::<IpAddr>().is_err() {
                invalids.push(invalid("Context.Ip", "an IPv4 or IPv6 address"));
            }
        }
        if context.locale.as_deref().is_some_and(|l| !is_language_tag(l)) {
            invalids.push(invalid("Context.Locale", "a language tag such as en-US"));
        }
        if context.referrer.as_deref().is_some_and(|u| !is_web_url(u)) {
            invalids.push(invalid("Context.Referrer", "an absolute http or https URL"));
        }
        if let Some(page) = &context.page {
            if page.url.as_deref().is_some_and(|u| !is_web_url(u)) {
                invalids.push(invalid("Context.Page.Url", "an absolute http or https URL"));
            }
            if page.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
                invalids.push(invalid("Context.Page.Path", "a path starting with /"));
            }
        }
        context.page = context.page.filter(|p| *p != Page::default());
        context.campaign = context.campaign.filter(|c| *c != Campaign::default());
        invalids.finish(|| Some(context).filter(|c| *c != Context::default()))
    }

    /// The language of `Locale` (`en` of `en-US`), lowercase.
    pub fn language(&self) -> Option<String> {
        language_of(self.locale.as_deref()?)
    }

    /// The region of `Locale` (`us` of `en-US`), lowercase, when it names one.
    pub fn country(&self) -> Option<String> {
        self.locale
            .as_deref()?
            .split(['-', '_'])
            .skip(1)
            .find(|part| part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(str::to_ascii_lowercase)
    }
}

/// `en` of `en-US`, `en_US` or `EN`: the primary language subtag, lower-case as BCP 47 writes it.
pub fn language_of(locale: &str) -> Option<String> {
    let language = locale.split(['-', '_']).next()?.trim();
    (!language.is_empty()).then(|| language.to_ascii_lowercase())
}

fn invalid(field: &str, what: &str) -> Invalid {
    Invalid::new(InvalidCode::InvalidValue, field, format!("{field} must be {what}."))
}

fn printable(field: &str, text: String) -> Result<String, Invalid> {
    if text.chars().any(char::is_control) {
        Err(invalid(field, "printable text"))
    } else {
        Ok(text)
    }
}

/// BCP 47 in the shape storefronts send: a 2–3 letter language, then subtags of 2–8 letters or
/// digits, separated by `-` (or `_`, as Java and .NET write them).
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_web_url(text: &str) -> bool {
    Url::parse(text)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<Option<Context>, Vec<String>> {
        let doc: Context = serde_json::from_value(value).unwrap();
        Context::parse(&doc).map_err(|e| e.0.into_iter().map(|i| i.field).collect())
    }

    #[test]
    fn a_full_context_reads_back_as_given() {
        let given = json!({
            "Ip": "2001:db8::1", "UserAgent": "Mozilla/5.0", "Locale": "en-US", "SessionID": "s-1",
            "Referrer": "https://search.example.com/?q=tea",
            "Page": {"Url": "https://shop.example.com/p/tea", "Path": "/p/tea", "Title": "Tea", "Name": "pdp"},
            "Campaign": {"Name": "winter", "Source": "news", "Medium": "email", "Term": "tea", "Content": "a"}
        });
        let context = parse(given.clone()).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&context).unwrap(), given);
        assert_eq!(context.language().as_deref(), Some("en"));
        assert_eq!(context.country().as_deref(), Some("us"));
    }

    #[test]
    fn an_empty_context_is_none() {
        assert_eq!(parse(json!({})).unwrap(), None);
        assert_eq!(parse(json!({"Page": {}, "Ip": " "})).unwrap(), None);
    }

    #[test]
    fn every_malformed_field_is_named() {
        let fields = parse(json!({
            "Ip": "10.0.0.300", "Locale": "english please", "Referrer": "ftp://x",
            "Page": {"Url": "/relative", "Path": "no-slash"}, "SessionID": "a\u{7}b",
            "Campaign": {"Name": "x".repeat(201)}
        }))
        .unwrap_err();
        assert_eq!(
            fields,
            [
                "Context.SessionID",
                "Context.Campaign.Name",
                "Context.Ip",
                "Context.Locale",
                "Context.Referrer",
                "Context.Page.Url",
                "Context.Page.Path"
            ]
        );
    }

    #[test]
    fn language_tags_in_the_shapes_storefronts_send_are_accepted() {
        for tag in ["en", "en-US", "fr_CA", "zh-Hant-TW", "es-419"] {
            assert!(is_language_tag(tag), "{tag}");
        }
        for tag in ["e", "english", "en-", "en US", "12-US"] {
            assert!(!is_language_tag(tag), "{tag}");
        }
    }
}

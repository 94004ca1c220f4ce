//! Amounts of money as vendors receive them: a figure Trackway derives (a discounted unit price,
//! a subtotal after discounts) is rounded to its currency's minor unit, so that a report shows
//! `3.33`, never `3.3333333333333335`. Figures OrderCloud computed are passed on as they are.

/// The number of decimals of `currency`'s minor unit (ISO 4217): 0 for the yen, 3 for the
/// Kuwaiti dinar, 2 for most and for an unknown or absent currency.
pub fn minor_unit_digits(currency: Option<&str>) -> i32 {
    let code = currency.map(str::to_ascii_uppercase);
    match code.as_deref() {
        Some(
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
            | "VUV" | "XAF" | "XOF" | "XPF",
        ) => 0,
        Some("BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND") => 3,
        Some("CLF" | "UYW") => 4,
        _ => 2,
    }
}

/// `amount` rounded half away from zero to `currency`'s minor unit, on the decimal figure a
/// reader sees (`2.675` becomes `2.68`, although the nearest binary float is a little below
/// `2.675`).
pub fn round(amount: f64, currency: Option<&str>) -> f64 {
    let digits = minor_unit_digits(currency) as usize;
    // Rust prints the shortest text that reads back as the same float, and never an exponent.
    let text = amount.abs().to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if fraction.len() <= digits {
        return amount;
    }
    let Ok(mut units) = format!("{whole}{}", &fraction[..digits]).parse::<u128>() else {
        return amount;
    };
    if fraction.as_bytes()[digits] >= b'5' {
        units += 1;
    }
    let rounded = units as f64 / 10f64.powi(digits as i32);
    // No "-0" in a payload.
    if rounded == 0.0 {
        0.0
    } else {
        rounded.copysign(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_amounts_round_to_the_currency_minor_unit() {
        assert_eq!(round(10.0 / 3.0, Some("USD")), 3.33);
        assert_eq!(round(10.0 / 3.0, None), 3.33);
        assert_eq!(round(1000.0 / 3.0, Some("JPY")), 333.0);
        assert_eq!(round(10.0 / 3.0, Some("kwd")), 3.333);
        assert_eq!(
            round(2.675, Some("EUR")),
            2.68,
            "half away from zero on the decimal figure"
        );
        assert_eq!(round(-0.001, Some("USD")).to_string(), "0");
        assert_eq!(round(22.5, Some("USD")), 22.5);
        assert_eq!(round(-1.005, Some("USD")), -1.01);
        assert_eq!(round(1e300, Some("USD")), 1e300);
    }
}

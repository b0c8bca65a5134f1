//! What a subscription may ask for: its URL, its event types and its SKU filter. Each check
//! names the field it refused, so the admin API answers 422 with that field and stores nothing.

use std::net::IpAddr;

use edgestock_api::webhooks::WebhookEventType;
use edgestock_core::domain::Sku;
use url::{Host, Url};

/// Longest accepted URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Most SKUs in one filter.
pub const MAX_SKU_FILTER: usize = 100;

/// A refused field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field (`url`, `event_types`, `skus`).
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// A checked subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL, normalised by the parser.
    pub url: String,
    /// Distinct types, in the order given.
    pub event_types: Vec<WebhookEventType>,
    /// The SKU filter, distinct and sorted; `None`: every SKU.
    pub skus: Option<Vec<String>>,
}

/// True for loopback hosts: `localhost`, 127.0.0.0/8 and `::1`.
fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// True for an address literal (or `localhost`) inside a network rather than on the internet:
/// loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with the
/// cloud metadata address, fe80::/10), shared (100.64/10), unspecified, and IPv4-mapped forms.
fn is_internal(host: &Host<&str>) -> bool {
    let v4 = |ip: std::net::Ipv4Addr| {
        let [a, b, ..] = ip.octets();
        ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || (a == 100 && (64..128).contains(&b))
    };
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => v4(*ip),
        Host::Ipv6(ip) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(v4)
        }
    }
}

/// Checks a webhook URL: absolute `https://` with a host and no credentials, not an internal
/// address literal (the origin would otherwise call into its own network for whoever holds the
/// admin key); `http://` only to a loopback host. Both exceptions need `allow_insecure`
/// (`WEBHOOK_ALLOW_INSECURE`, for local use). A domain name is not resolved here: one that
/// points inside the network is the operator's to firewall.
///
/// # Errors
/// The field `url` and why.
pub fn check_url(raw: &str, allow_insecure: bool) -> Result<String, Invalid> {
    if raw.len() > MAX_URL_BYTES {
        return Err(invalid(
            "url",
            format!("must be at most {MAX_URL_BYTES} bytes"),
        ));
    }
    let url = Url::parse(raw).map_err(|e| invalid("url", format!("not an absolute URL: {e}")))?;
    let host = url
        .host()
        .ok_or_else(|| invalid("url", "must name a host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("url", "must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(invalid("url", "must not have a fragment"));
    }
    match url.scheme() {
        "https" if !allow_insecure && is_internal(&host) => Err(invalid(
            "url",
            "points at an internal address (loopback, private, link-local); allowed only with WEBHOOK_ALLOW_INSECURE",
        )),
        "https" => Ok(url.into()),
        "http" if allow_insecure && is_loopback(&host) => Ok(url.into()),
        "http" if allow_insecure => Err(invalid(
            "url",
            "http:// is accepted for loopback hosts only; use https://",
        )),
        "http" => Err(invalid("url", "must use https://")),
        other => Err(invalid("url", format!("scheme {other:?} is not https"))),
    }
}

/// Checks the event types: 1 to 8 known names; repeats are kept once.
///
/// # Errors
/// The field `event_types` and why.
pub fn check_types(names: &[String]) -> Result<Vec<WebhookEventType>, Invalid> {
    if names.is_empty() || names.len() > WebhookEventType::ALL.len() {
        return Err(invalid(
            "event_types",
            format!("must name 1 to {} event types", WebhookEventType::ALL.len()),
        ));
    }
    let mut types = Vec::with_capacity(names.len());
    for name in names {
        let t = WebhookEventType::parse(name).ok_or_else(|| {
            let known: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
            invalid(
                "event_types",
                format!("unknown event type {name:?}; known: {}", known.join(", ")),
            )
        })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

/// Checks the SKU filter: absent, or 1 to [`MAX_SKU_FILTER`] valid SKUs.
///
/// # Errors
/// The field `skus` and why.
pub fn check_skus(skus: Option<&[String]>) -> Result<Option<Vec<String>>, Invalid> {
    let Some(skus) = skus else { return Ok(None) };
    if skus.is_empty() || skus.len() > MAX_SKU_FILTER {
        return Err(invalid(
            "skus",
            format!("must name 1 to {MAX_SKU_FILTER} SKUs (leave it out for every SKU)"),
        ));
    }
    let mut out = Vec::with_capacity(skus.len());
    for s in skus {
        let sku = Sku::parse(s).map_err(|e| invalid("skus", format!("{s:?}: {e}")))?;
        out.push(sku.to_string());
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_accepted_and_http_only_to_loopback_when_insecure_is_allowed() {
        assert_eq!(
            check_url("https://hooks.example.com/in?x=1", false).unwrap(),
            "https://hooks.example.com/in?x=1"
        );
        for local in [
            "http://127.0.0.1:9/h",
            "http://localhost/h",
            "http://[::1]:8/h",
        ] {
            assert!(check_url(local, true).is_ok(), "{local}");
            assert_eq!(check_url(local, false).unwrap_err().field, "url", "{local}");
        }
        for bad in [
            "http://10.0.0.1/h",
            "http://example.com/h",
            "ftp://example.com/h",
            "https://user:pw@example.com/h",
            "https://example.com/h#frag",
            "/relative",
            "https://",
            "mailto:a@example.com",
        ] {
            assert_eq!(check_url(bad, true).unwrap_err().field, "url", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(check_url(&long, false).unwrap_err().field, "url");
    }

    #[test]
    fn adversary_https_to_an_internal_address_is_refused_unless_local_use_is_allowed() {
        for internal in [
            "https://127.0.0.1/h",
            "https://localhost/h",
            "https://[::1]/h",
            "https://10.1.2.3/h",
            "https://172.16.0.9/h",
            "https://192.168.1.1/h",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/h",
            "https://0.0.0.0/h",
            "https://[fd00::1]/h",
            "https://[fe80::1]/h",
            "https://[::ffff:10.0.0.1]/h",
        ] {
            let e = check_url(internal, false).unwrap_err();
            assert_eq!(e.field, "url", "{internal}");
            assert!(e.message.contains("internal"), "{internal}: {}", e.message);
            assert!(check_url(internal, true).is_ok(), "{internal}");
        }
        assert!(check_url("https://8.8.8.8/h", false).is_ok());
        assert!(check_url("https://[2001:4860::8888]/h", false).is_ok());
    }

    #[test]
    fn types_must_be_known_and_repeats_count_once() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            check_types(&names(&["stock.low", "order.placed", "stock.low"])).unwrap(),
            [WebhookEventType::StockLow, WebhookEventType::OrderPlaced]
        );
        for bad in [
            &[][..],
            &["stock.lowish"][..],
            &["stock.low", "Stock.Low"][..],
        ] {
            assert_eq!(check_types(&names(bad)).unwrap_err().field, "event_types");
        }
    }

    #[test]
    fn sku_filters_are_bounded_valid_and_normalised() {
        let skus: Vec<String> = ["B", "A", "B"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            check_skus(Some(&skus)).unwrap(),
            Some(vec!["A".into(), "B".into()])
        );
        assert_eq!(check_skus(None).unwrap(), None);
        let too_many: Vec<String> = (0..=MAX_SKU_FILTER).map(|i| format!("S{i}")).collect();
        assert_eq!(check_skus(Some(&too_many)).unwrap_err().field, "skus");
        assert_eq!(check_skus(Some(&[])).unwrap_err().field, "skus");
        assert_eq!(
            check_skus(Some(&["no spaces".to_owned()]))
                .unwrap_err()
                .field,
            "skus"
        );
    }
}

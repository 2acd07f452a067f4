//! Virtual networks as OpenNebula shapes them: address ranges (`AR`) of
//! IPv4 addresses, leases taken from them, and reservations carved from a
//! parent network. Pure: which address a VM gets, or which block a
//! reservation takes, is decided here from what is already leased; the
//! store records it.

use crate::service::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The most addresses one range may hold: a /16. Larger ranges are almost
/// always a typo, and a lease scan must stay cheap.
pub const MAX_RANGE_SIZE: u32 = 65_536;

/// One address range of a network: `size` consecutive IPv4 addresses
/// from `ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    pub ar_id: u32,
    pub ip: Ipv4Addr,
    pub size: u32,
}

impl AddressRange {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let (start, ip) = (u32::from(self.ip), u32::from(ip));
        ip >= start && ip - start < self.size
    }

    fn nth(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.ip) + i)
    }

    /// The range as the attributes OpenNebula shows for it.
    pub fn to_json(&self) -> Value {
        let last = self.nth(self.size.saturating_sub(1));
        serde_json::json!({
            "AR_ID": self.ar_id.to_string(),
            "TYPE": "IP4",
            "IP": self.ip.to_string(),
            "SIZE": self.size.to_string(),
            "IP_END": last.to_string(),
        })
    }
}

/// Text of a string or number attribute.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn get<'a>(attributes: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The `AR` attribute of a network (one object or a list of them), checked:
/// IPv4 only, a size from 1 to [`MAX_RANGE_SIZE`], inside the address
/// space, no two ranges overlapping. Errors name the field
/// (`AR[1].SIZE`) and the reason.
pub fn parse_ranges(attributes: &Map<String, Value>) -> Result<Vec<AddressRange>, FieldError> {
    let items: Vec<&Value> = match get(attributes, "AR") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err(bad("AR", "must be an object or a list of objects")),
    };
    let mut ranges: Vec<AddressRange> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("AR[{i}]");
        let Some(item) = item.as_object() else {
            return Err(bad(
                &at,
                "must be an object like {\"IP\": \"10.0.0.1\", \"SIZE\": \"10\"}",
            ));
        };
        if let Some(kind) = get(item, "TYPE").and_then(text)
            && !kind.eq_ignore_ascii_case("IP4")
        {
            return Err(bad(
                &format!("{at}.TYPE"),
                format!("`{kind}` is not supported (only IP4)"),
            ));
        }
        let ip = get(item, "IP")
            .and_then(text)
            .ok_or_else(|| bad(&format!("{at}.IP"), "is required (the first address)"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| {
            bad(
                &format!("{at}.IP"),
                format!("`{ip}` is not an IPv4 address"),
            )
        })?;
        let size = get(item, "SIZE")
            .and_then(text)
            .ok_or_else(|| bad(&format!("{at}.SIZE"), "is required (how many addresses)"))?;
        let size: u32 = size
            .parse()
            .ok()
            .filter(|s| (1..=MAX_RANGE_SIZE).contains(s))
            .ok_or_else(|| {
                bad(
                    &format!("{at}.SIZE"),
                    format!("`{size}` is not a number from 1 to {MAX_RANGE_SIZE}"),
                )
            })?;
        if u64::from(u32::from(ip)) + u64::from(size) > u64::from(u32::MAX) + 1 {
            return Err(bad(
                &at,
                format!("{size} addresses from {ip} run past 255.255.255.255"),
            ));
        }
        let ar_id = get(item, "AR_ID")
            .and_then(text)
            .and_then(|t| t.parse().ok())
            .unwrap_or(i as u32);
        let range = AddressRange { ar_id, ip, size };
        if let Some(other) = ranges.iter().find(|r| overlap(r, &range)) {
            return Err(bad(
                &at,
                format!(
                    "{ip}+{size} overlaps AR {} ({}+{})",
                    other.ar_id, other.ip, other.size
                ),
            ));
        }
        ranges.push(range);
    }
    Ok(ranges)
}

fn overlap(a: &AddressRange, b: &AddressRange) -> bool {
    let (a0, b0) = (u64::from(u32::from(a.ip)), u64::from(u32::from(b.ip)));
    a0 < b0 + u64::from(b.size) && b0 < a0 + u64::from(a.size)
}

/// The ranges back as the `AR` attribute.
pub fn ranges_json(ranges: &[AddressRange]) -> Value {
    Value::Array(ranges.iter().map(AddressRange::to_json).collect())
}

/// The first address of `ranges` that is not leased.
pub fn first_free(ranges: &[AddressRange], leased: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    ranges.iter().find_map(|r| {
        (0..r.size)
            .map(|i| r.nth(i))
            .find(|ip| !leased.contains(ip))
    })
}

/// Each run of consecutive free addresses inside one range: its first
/// address and its length, in range order.
fn free_runs<'a>(
    ranges: &'a [AddressRange],
    leased: &'a BTreeSet<Ipv4Addr>,
) -> impl Iterator<Item = (Ipv4Addr, u32)> + 'a {
    ranges.iter().flat_map(move |r| {
        let mut runs = Vec::new();
        let mut start = None;
        for i in 0..r.size {
            if leased.contains(&r.nth(i)) {
                if let Some(s) = start.take() {
                    runs.push((r.nth(s), i - s));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            runs.push((r.nth(s), r.size - s));
        }
        runs
    })
}

/// `size` consecutive free addresses inside one range, the first such
/// block: what a reservation takes (OpenNebula reserves a contiguous block
/// so the child network is one range).
pub fn free_block(
    ranges: &[AddressRange],
    leased: &BTreeSet<Ipv4Addr>,
    size: u32,
) -> Option<Ipv4Addr> {
    free_runs(ranges, leased)
        .find(|(_, len)| *len >= size)
        .map(|(first, _)| first)
}

/// The largest block of consecutive free addresses, for the message when
/// a reservation does not fit.
pub fn largest_free_block(ranges: &[AddressRange], leased: &BTreeSet<Ipv4Addr>) -> u32 {
    free_runs(ranges, leased)
        .map(|(_, len)| len)
        .max()
        .unwrap_or(0)
}

/// How many addresses the ranges hold.
pub fn capacity(ranges: &[AddressRange]) -> u64 {
    ranges.iter().map(|r| u64::from(r.size)).sum()
}

/// OpenNebula's MAC for an address: the `02:00` prefix, then the IPv4
/// bytes, so a VM's MAC and IP always agree.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// A size attribute (`SIZE=5` in a reservation's `extra`).
pub fn size_attribute(attributes: &Map<String, Value>) -> Result<u32, FieldError> {
    let raw = get(attributes, "SIZE").and_then(text).ok_or_else(|| {
        bad(
            "SIZE",
            "is required (how many addresses to reserve, e.g. SIZE=5)",
        )
    })?;
    raw.parse()
        .ok()
        .filter(|s| (1..=MAX_RANGE_SIZE).contains(s))
        .ok_or_else(|| {
            bad(
                "SIZE",
                format!("`{raw}` is not a number from 1 to {MAX_RANGE_SIZE}"),
            )
        })
}

fn bad(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ranges(v: Value) -> Result<Vec<AddressRange>, String> {
        parse_ranges(v.as_object().unwrap()).map_err(|e| e.to_string())
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_checked_with_the_field_named() {
        let ok = ranges(json!({"AR": [{"IP": "10.0.0.1", "SIZE": "4"}, {"IP": "10.0.1.1", "SIZE": 2, "TYPE": "IP4"}]})).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].ar_id, 1);
        assert!(ranges(json!({"AR": {"IP": "10.0.0.1", "SIZE": "4"}})).is_ok());
        let err = |v| ranges(v).unwrap_err();
        assert!(err(json!({"AR": [{"IP": "10.0.0.300", "SIZE": "4"}]})).starts_with("AR[0].IP"));
        assert!(err(json!({"AR": [{"IP": "10.0.0.1", "SIZE": "0"}]})).starts_with("AR[0].SIZE"));
        assert!(err(json!({"AR": [{"IP": "10.0.0.1"}]})).contains("SIZE: is required"));
        assert!(
            err(json!({"AR": [{"IP": "10.0.0.1", "SIZE": "1", "TYPE": "IP6"}]}))
                .contains("only IP4")
        );
        assert!(err(json!({"AR": [{"IP": "255.255.255.250", "SIZE": "10"}]})).contains("run past"));
        let overlapping =
            err(json!({"AR": [{"IP": "10.0.0.1", "SIZE": "10"}, {"IP": "10.0.0.5", "SIZE": "2"}]}));
        assert!(
            overlapping.starts_with("AR[1]") && overlapping.contains("overlaps"),
            "{overlapping}"
        );
    }

    #[test]
    fn leases_take_the_first_free_address_and_blocks_must_be_consecutive() {
        let rs = ranges(
            json!({"AR": [{"IP": "10.0.0.1", "SIZE": "3"}, {"IP": "10.0.1.1", "SIZE": "4"}]}),
        )
        .unwrap();
        let mut leased = BTreeSet::new();
        assert_eq!(first_free(&rs, &leased), Some(ip("10.0.0.1")));
        leased.insert(ip("10.0.0.1"));
        leased.insert(ip("10.0.0.3"));
        assert_eq!(first_free(&rs, &leased), Some(ip("10.0.0.2")));
        // Two consecutive addresses are not in the first range any more.
        assert_eq!(free_block(&rs, &leased, 2), Some(ip("10.0.1.1")));
        leased.insert(ip("10.0.1.2"));
        assert_eq!(free_block(&rs, &leased, 2), Some(ip("10.0.1.3")));
        assert_eq!(free_block(&rs, &leased, 3), None);
        assert_eq!(largest_free_block(&rs, &leased), 2);
        assert_eq!(capacity(&rs), 7);
        for a in ["10.0.0.2", "10.0.1.1", "10.0.1.3", "10.0.1.4"] {
            leased.insert(ip(a));
        }
        assert_eq!(first_free(&rs, &leased), None);
    }

    #[test]
    fn macs_follow_the_address() {
        assert_eq!(mac_for(ip("10.0.0.17")), "02:00:0a:00:00:11");
    }

    #[test]
    fn reservation_sizes_are_bounded() {
        let size = |v: Value| size_attribute(v.as_object().unwrap()).map_err(|e| e.to_string());
        assert_eq!(size(json!({"SIZE": "5"})), Ok(5));
        assert!(size(json!({})).unwrap_err().contains("SIZE: is required"));
        assert!(
            size(json!({"SIZE": "-1"}))
                .unwrap_err()
                .contains("not a number")
        );
    }
}

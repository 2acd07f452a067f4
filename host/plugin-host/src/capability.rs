//! Outbound-host capabilities: origin patterns and the check that both the
//! manifest and the operator's grant allow a request.

use flotilla_model::FieldError;
use std::fmt;

/// `scheme://host:port`, where `host` may be `*` or `*.domain` and `port`
/// may be `*`. The port may be left out for the scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Why a text is not an origin pattern; shown after the field that holds
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginError {
    origin: String,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    NoScheme,
    Scheme,
    Path,
    Port(String),
    EmptyHost,
    Wildcard,
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.origin;
        match &self.problem {
            Problem::NoScheme => write!(f, "`{text}` must look like http://host:port"),
            Problem::Scheme => write!(f, "`{text}`: scheme must be http or https"),
            Problem::Path => write!(f, "`{text}`: an origin has no path"),
            Problem::Port(p) => write!(f, "`{text}`: port `{p}` is not a number or *"),
            Problem::EmptyHost => write!(f, "`{text}`: host is empty"),
            Problem::Wildcard => write!(f, "`{text}`: a wildcard host is `*` or `*.domain`"),
        }
    }
}

impl std::error::Error for OriginError {}

impl OriginPattern {
    pub fn parse(text: &str) -> Result<OriginPattern, OriginError> {
        let refuse = |problem| OriginError {
            origin: text.to_string(),
            problem,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| refuse(Problem::NoScheme))?;
        if scheme != "http" && scheme != "https" {
            return Err(refuse(Problem::Scheme));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(refuse(Problem::Path));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, None),
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| refuse(Problem::Port(p.to_string())))?,
                ),
            ),
            None => (rest, Some(default_port(scheme))),
        };
        if host.is_empty() {
            return Err(refuse(Problem::EmptyHost));
        }
        // A wildcard host is `*` or `*.domain`, nothing else.
        let wildcard_ok = host == "*"
            || host
                .strip_prefix("*.")
                .is_some_and(|d| !d.is_empty() && !d.contains('*'));
        if host.contains('*') && !wildcard_ok {
            return Err(refuse(Problem::Wildcard));
        }
        Ok(OriginPattern {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host_ok = self.host == "*"
            || self.host == host
            || self
                .host
                .strip_prefix('*')
                .is_some_and(|suffix| host.ends_with(suffix));
        self.scheme == scheme && host_ok && self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}://{}:{}", self.scheme, self.host, p),
            None => write!(f, "{}://{}:*", self.scheme, self.host),
        }
    }
}

pub fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// The outbound hosts one plugin may reach: both lists must allow it.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    pub declared: Vec<OriginPattern>,
    pub granted: Vec<OriginPattern>,
}

impl OutboundPolicy {
    /// `declared`: the manifest's list; `granted`: the operator's grant
    /// of plugin `id`. A pattern that does not parse is refused, naming
    /// its field as the manifest's and the grant's checks do.
    pub fn new(
        declared: &[String],
        granted: &[String],
        id: &str,
    ) -> Result<OutboundPolicy, FieldError> {
        let parse = |list: &[String], field: &str| -> Result<Vec<OriginPattern>, FieldError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    OriginPattern::parse(s)
                        .map_err(|e| FieldError::new(format!("{field}[{i}]"), e.to_string()))
                })
                .collect()
        };
        Ok(OutboundPolicy {
            declared: parse(declared, "capabilities.allowed_outbound_hosts")?,
            granted: parse(granted, &format!("plugins.{id}.allowed_outbound_hosts"))?,
        })
    }

    /// `None` when allowed, else why not.
    pub fn check(&self, scheme: &str, host: &str, port: u16) -> Option<String> {
        let declared = self.declared.iter().any(|p| p.matches(scheme, host, port));
        let granted = self.granted.iter().any(|p| p.matches(scheme, host, port));
        let origin = format!("{scheme}://{host}:{port}");
        match (declared, granted) {
            (true, true) => None,
            (false, _) => Some(format!(
                "outbound request to {origin} denied: the plugin's manifest does not declare it in allowed_outbound_hosts"
            )),
            (true, false) => Some(format!(
                "outbound request to {origin} denied: the operator has not granted it (plugins.<id>.allowed_outbound_hosts)"
            )),
        }
    }

    /// The effective allow-list, for `plugin list`: every pattern of one
    /// list that the other list covers.
    pub fn effective(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let pairs = [
            (&self.granted, &self.declared),
            (&self.declared, &self.granted),
        ];
        for (patterns, coverers) in pairs {
            for p in patterns.iter() {
                let s = p.to_string();
                if coverers.iter().any(|c| c.covers(p)) && !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

impl OriginPattern {
    /// Whether every origin `other` matches is matched by `self` too.
    fn covers(&self, other: &OriginPattern) -> bool {
        let host = self.host == "*"
            || self.host == other.host
            || (self.host.starts_with("*.") && other.host.ends_with(&self.host[1..]));
        self.scheme == other.scheme && host && (self.port.is_none() || self.port == other.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let p = OriginPattern::parse("http://127.0.0.1:*").unwrap();
        assert!(p.matches("http", "127.0.0.1", 2475));
        assert!(!p.matches("https", "127.0.0.1", 2475));
        assert!(!p.matches("http", "127.0.0.2", 2475));
        let p = OriginPattern::parse("https://*.example.com").unwrap();
        assert!(p.matches("https", "api.example.com", 443));
        assert!(!p.matches("https", "api.example.com", 8443));
        assert!(!p.matches("https", "example.org", 443));
        assert!(OriginPattern::parse("127.0.0.1:80").is_err());
        assert!(OriginPattern::parse("http://a*b.com").is_err());
        assert!(OriginPattern::parse("http://h:port").is_err());
    }

    #[test]
    fn both_manifest_and_grant_must_allow() {
        let policy = OutboundPolicy::new(
            &["http://127.0.0.1:*".into()],
            &["http://127.0.0.1:2475".into(), "http://10.0.0.1:80".into()],
            "sim",
        )
        .unwrap();
        assert_eq!(policy.check("http", "127.0.0.1", 2475), None);
        assert!(
            policy
                .check("http", "127.0.0.1", 9999)
                .unwrap()
                .contains("not granted")
        );
        assert!(
            policy
                .check("http", "10.0.0.1", 80)
                .unwrap()
                .contains("manifest")
        );
        assert_eq!(
            policy.effective(),
            vec!["http://127.0.0.1:2475".to_string()]
        );
        let nothing = OutboundPolicy::new(&["http://127.0.0.1:*".into()], &[], "sim").unwrap();
        assert!(nothing.check("http", "127.0.0.1", 1).is_some());
        assert!(nothing.effective().is_empty());
    }
}

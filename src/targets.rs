//! Where Relevo sends requests of its own: tenants' `callback_url`s and Evolution servers
//! (a server's `base_url`, an instance's `evolution_api_url`). API users choose those
//! URLs, so without care Relevo would call, on their behalf, whatever its own network
//! reaches (server-side request forgery): a database port on loopback, a cloud metadata
//! service at 169.254.169.254, a service on the private network. Unless
//! `RELEVO_ALLOW_PRIVATE_TARGETS=1`, a target that is not on a public address is refused:
//!
//! - when the URL is given: a literal address or a `localhost` name (422 on the field,
//!   [`TargetPolicy::parse`]);
//! - when connecting: names are resolved by [`PublicResolver`], which drops every address
//!   that is not public and fails when none is left, so a name that resolves (or later
//!   re-resolves) to loopback is never connected to; a literal address, which skips
//!   resolution, is checked before the request ([`TargetPolicy::check_literal`]);
//! - on redirects: the clients follow none.
//!
//! The origin of `EVOLUTION_API_BASE_URL` is the operator's own choice and may be on any
//! address (Evolution usually runs beside Relevo on a private network): as an Evolution
//! target, and only as one, it is trusted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, LazyLock};

use ipnet::{IpNet, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::config::Settings;
use crate::domain::HttpUrl;
use crate::i18n::Msg;

/// What a URL is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An Evolution API server.
    Evolution,
    /// A tenant's receiver of outbound events.
    Callback,
}

/// Which outbound targets Relevo calls (see the module's documentation).
#[derive(Clone, Debug)]
pub struct TargetPolicy {
    /// `RELEVO_ALLOW_PRIVATE_TARGETS=1`: any address (local development, tests).
    allow_private: bool,
    /// The origin of `EVOLUTION_API_BASE_URL`.
    operator_evolution: Option<url::Origin>,
}

impl TargetPolicy {
    pub fn new(settings: &Settings) -> Self {
        Self {
            allow_private: settings.allow_private_targets,
            operator_evolution: settings.evolution.base_url.as_ref().map(Url::origin),
        }
    }

    /// Whether a `kind` target at `url` may be on any address.
    pub fn trusts(&self, url: &Url, kind: Target) -> bool {
        self.allow_private
            || (kind == Target::Evolution
                && self.operator_evolution.as_ref() == Some(&url.origin()))
    }

    /// A URL given for a `kind` target: an [`HttpUrl`] whose host is not a literal
    /// non-public address nor a `localhost` name, unless the policy trusts it.
    pub fn parse(&self, raw: &str, kind: Target) -> Result<HttpUrl, Msg> {
        let parsed = HttpUrl::parse(raw);
        // An address the URL pattern does not take ("http://[::1]/") is still named for
        // what it is.
        let url = match (&parsed, Url::parse(raw)) {
            (_, Ok(url)) if matches!(url.scheme(), "http" | "https") => url,
            _ => return parsed,
        };
        if parsed == Err(Msg::UrlCredentials) {
            return parsed;
        }
        if self.trusts(&url, kind) || url.host().is_none_or(|host| names_public(&host)) {
            parsed
        } else {
            Err(Msg::PrivateTarget)
        }
    }

    /// At request time, for a URL whose host is a literal address: the resolver never
    /// sees it, so it is checked here.
    pub fn check_literal(&self, url: &Url, kind: Target) -> Result<(), NotPublic> {
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if is_public(literal) || self.trusts(url, kind) {
            Ok(())
        } else {
            Err(NotPublic(literal.to_string()))
        }
    }

    /// A client builder for targets this policy screens: no redirects, and names
    /// resolved to public addresses only unless private targets are allowed.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = open_client_builder();
        match self.allow_private {
            true => builder,
            false => builder.dns_resolver(Arc::new(PublicResolver)),
        }
    }
}

/// A client builder for targets that may be on any address (the operator's Evolution
/// server): it follows no redirects either, so an answer cannot send Relevo elsewhere.
pub fn open_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}

/// A target refused for its address.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a public address: Relevo does not call loopback, private, link-local or reserved addresses (RELEVO_ALLOW_PRIVATE_TARGETS)")]
pub struct NotPublic(String);

impl NotPublic {
    /// Whether `error` (a failed request) was this refusal, at any depth of its causes.
    pub fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if error.is::<NotPublic>() {
                return true;
            }
            cause = error.source();
        }
        false
    }
}

/// Resolves names as the system does, keeping the public addresses only; a name with
/// none is refused (with [`NotPublic`]).
struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            // getaddrinfo blocks, as in reqwest's own resolver.
            let found: Vec<SocketAddr> = tokio::task::spawn_blocking(
                crate::telemetry::on_blocking_thread("address lookup", move || {
                    (lookup.as_str(), 0).to_socket_addrs()
                }),
            )
            .await??
            .collect();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(NotPublic(host).into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Whether a URL host may name a public address: a literal one that is, or a name other
/// than `localhost` (and `*.localhost`, RFC 6761) — what a name resolves to is checked
/// when connecting.
fn names_public(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
        Host::Ipv4(ip) => is_public(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_public(IpAddr::V6(*ip)),
    }
}

/// Networks that are not the public internet: unspecified and "this network", loopback,
/// private (RFC 1918, IPv6 unique local), shared address space (CGNAT), link-local,
/// IETF protocol assignments, benchmarking, multicast, reserved and broadcast.
#[allow(
    clippy::expect_used,
    reason = "constant networks, parsed by the unit tests"
)]
static NOT_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        // Unspecified, loopback and the deprecated IPv4-compatible addresses.
        "::/96",
        "fc00::/7",
        "fe80::/10",
        // Deprecated site-local.
        "fec0::/10",
        "ff00::/8",
    ]
    .iter()
    .map(|net| net.parse().expect("a valid network"))
    .collect()
});

/// Whether Relevo may connect to `ip` on a user's behalf. An IPv6 address that carries an
/// IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    if let IpAddr::V6(v6) = ip {
        #[allow(
            clippy::expect_used,
            reason = "constant networks, parsed by the unit tests"
        )]
        static CARRIERS: LazyLock<[Ipv6Net; 2]> = LazyLock::new(|| {
            [
                "::ffff:0:0/96".parse().expect("a valid network"),
                "64:ff9b::/96".parse().expect("a valid network"),
            ]
        });
        if CARRIERS.iter().any(|net| net.contains(&v6)) {
            let [.., a, b, c, d] = v6.octets();
            return is_public(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        }
    }
    !NOT_PUBLIC.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow_private: bool, operator: Option<&str>) -> TargetPolicy {
        TargetPolicy {
            allow_private,
            operator_evolution: operator.map(|url| Url::parse(url).unwrap().origin()),
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn literal_addresses_and_localhost_are_refused_when_given() {
        let strict = policy(false, None);
        for refused in [
            "http://127.0.0.1:5432",
            "http://169.254.169.254/",
            "http://localhost:8080",
            "http://LOCALHOST./x",
            "http://api.localhost",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://10.0.0.1",
        ] {
            assert_eq!(
                strict
                    .parse(refused, Target::Callback)
                    .map(HttpUrl::into_inner),
                Err(Msg::PrivateTarget),
                "{refused}"
            );
        }
        assert!(strict
            .parse("https://crm.example.com/hook", Target::Callback)
            .is_ok());
        assert_eq!(
            strict.parse("ftp://10.0.0.1", Target::Callback).err(),
            Some(Msg::Url)
        );
        assert_eq!(
            strict
                .parse("http://user:pw@10.0.0.1", Target::Callback)
                .err(),
            Some(Msg::UrlCredentials)
        );
        let open = policy(true, None);
        assert!(open
            .parse("http://127.0.0.1:5432", Target::Callback)
            .is_ok());
    }

    #[test]
    fn the_operators_evolution_origin_is_trusted_for_evolution_only() {
        let named = policy(false, Some("http://evolution-api:8080"));
        assert!(named
            .parse("http://evolution-api:8080/evo", Target::Evolution)
            .is_ok());
        let private = policy(false, Some("http://10.0.0.7:8080"));
        assert!(private
            .parse("http://10.0.0.7:8080", Target::Evolution)
            .is_ok());
        assert_eq!(
            private
                .parse("http://10.0.0.7:8080", Target::Callback)
                .err(),
            Some(Msg::PrivateTarget)
        );
        assert_eq!(
            private
                .parse("http://10.0.0.7:9090", Target::Evolution)
                .err(),
            Some(Msg::PrivateTarget)
        );
        let url = Url::parse("http://10.0.0.7:8080/instance").unwrap();
        assert!(private.check_literal(&url, Target::Evolution).is_ok());
        assert!(private.check_literal(&url, Target::Callback).is_err());
    }
}

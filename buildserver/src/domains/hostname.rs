//! Which hostnames an app may add as custom domains.

use std::net::IpAddr;

/// `input` as the hostname the router matches: lowercase ASCII, internationalised labels as IDNA
/// A-labels (UTS #46 with the STD3 rules: `Bücher.example` → `xn--bcher-kva.example`), without
/// a final dot. At least two labels of at most 63 characters each, 253 in all (RFC 1035 §2.3.4);
/// a wildcard only as a whole leading label over at least two more (`*.example.com`), as TLS
/// matches them (RFC 6125 §6.4.3). Not an IP address, not `localhost`, not a public suffix nor a
/// wildcard right under one (`co.uk`, `*.co.uk`), and not a name under `server_domain` (those
/// are apps' default hostnames).
///
/// Errors: a sentence saying what is wrong, for the user.
pub fn parse(input: &str, server_domain: &str) -> Result<String, String> {
    let name = input.strip_suffix('.').unwrap_or(input);
    // What the messages quote: 40 characters at most.
    let input = paas_share::names::excerpt(input);
    if name.is_empty() {
        return Err("a hostname cannot be empty".to_owned());
    }
    if name.parse::<IpAddr>().is_ok()
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
    {
        return Err(format!(
            "{input:?} is an IP address; a domain is a DNS name (point its A record at this server instead)"
        ));
    }
    let (wildcard, rest) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    if rest.contains('*') {
        return Err(format!(
            "{input:?} has a `*` that is not its whole first label; a wildcard domain looks like *.example.com"
        ));
    }
    if rest.split('.').any(str::is_empty) {
        return Err(format!(
            "{input:?} has an empty label (`..`, or a leading dot)"
        ));
    }
    let ascii = idna::domain_to_ascii_strict(rest).map_err(|_| {
        format!(
            "{input:?} is not a valid hostname: labels are letters, digits and hyphens (not at either end), at most 63 characters each and 253 in all"
        )
    })?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if wildcard && labels.len() < 2 {
        return Err(format!(
            "{input:?} would match every name under a top-level domain; use *.example.com or deeper"
        ));
    }
    if labels.len() < 2 {
        return Err(format!(
            "{input:?} is a single label; a domain has at least two, such as www.example.com"
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{input:?} ends in a numeric label, which no domain does"
        ));
    }
    let full = if wildcard {
        format!("*.{ascii}")
    } else {
        ascii
    };
    if full.len() > 253 {
        return Err(format!(
            "{input:?} is {} characters long; a hostname has at most 253",
            full.len()
        ));
    }
    // A public suffix (RFC 6265 §5.3's "public suffix"; Mozilla's list) is no one's to claim, nor
    // is every name one label under it.
    let zone = full.strip_prefix("*.").unwrap_or(&full);
    if psl::suffix_str(zone) == Some(zone) {
        return Err(format!(
            "{input:?} {} the public suffix {zone} (like .com or .co.uk), which no one owns; add a domain registered under it",
            if wildcard {
                "covers every name under"
            } else {
                "is"
            }
        ));
    }
    let server_domain = server_domain.to_ascii_lowercase();
    if full == server_domain || full.ends_with(&format!(".{server_domain}")) {
        return Err(format!(
            "{input:?} is under the server's domain {server_domain}, where apps get their default hostnames"
        ));
    }
    if full == "localhost" || full.ends_with(".localhost") {
        return Err(format!(
            "{input:?} is a loopback name (RFC 6761); it cannot reach this server"
        ));
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_normalise() {
        let ok = |s: &str| parse(s, "apps.example.net").expect(s);
        assert_eq!(ok("WWW.Example.COM"), "www.example.com");
        assert_eq!(ok("www.example.com."), "www.example.com");
        assert_eq!(ok("Bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("*.example.com"), "*.example.com");
        assert_eq!(ok("a-b.c-d.example"), "a-b.c-d.example");
        assert_eq!(ok("shop.co.uk"), "shop.co.uk");
        assert_eq!(ok("*.shop.co.uk"), "*.shop.co.uk");
    }

    #[test]
    fn invalid_names_say_why() {
        let long = format!("{}com", "a.".repeat(130));
        let long_label = format!("{}.com", "a".repeat(64));
        for (bad, says) in [
            ("", "empty"),
            ("has space.example.com", "not a valid hostname"),
            ("a..example.com", "empty label"),
            (".example.com", "empty label"),
            (long.as_str(), "not a valid hostname"),
            (long_label.as_str(), "not a valid hostname"),
            ("localhost", "single label"),
            ("app.localhost", "loopback"),
            ("10.0.0.1", "IP address"),
            ("::1", "IP address"),
            ("[::1]", "IP address"),
            ("*.com", "top-level"),
            ("www.*.example.com", "wildcard"),
            ("*example.com", "wildcard"),
            ("-bad.example.com", "not a valid hostname"),
            ("under_score.example.com", "not a valid hostname"),
            ("shop.apps.example.net", "server's domain"),
            ("apps.example.net", "server's domain"),
            ("1.2.3.999", "numeric"),
            ("co.uk", "public suffix"),
            ("*.co.uk", "public suffix"),
            ("github.io", "public suffix"),
        ] {
            let error = parse(bad, "apps.example.net").expect_err(bad);
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }
}

//! Which `CONNECT` targets `--intercept-twilio` answers: the Twilio hosts of the Serverless API,
//! its upload host and the 2010 API, in every form Twilio's helper libraries build from
//! `TWILIO_EDGE` / `TWILIO_REGION`, and nothing else. The match is exact (label by label, any
//! case, port 443 only), so look-alikes and other Twilio products are refused: depot must never
//! appear to answer for a host it does not implement.

/// The products whose hosts depot serves; all share depot's one route table.
const PRODUCTS: [&str; 3] = ["serverless", "serverless-upload", "api"];

/// Twilio's edge locations (the `{edge}` of `{product}.{edge}.{region}.twilio.com`), as the
/// helper libraries document them. A fixed list: an unknown label is not a Twilio host.
const EDGES: [&str; 10] = [
    "ashburn",
    "dublin",
    "frankfurt",
    "osaka",
    "roaming",
    "sao-paulo",
    "singapore",
    "sydney",
    "tokyo",
    "umatilla",
];

/// The one port real clients tunnel to.
const HTTPS_PORT: &str = "443";

/// The host a `CONNECT` request target (`host:port`, RFC 9110 authority-form) names, lower
/// case, if depot intercepts it: an allowed Twilio host on port 443.
pub fn connect_target(target: &str) -> Option<String> {
    let (host, port) = target.rsplit_once(':')?;
    if port != HTTPS_PORT {
        return None;
    }
    let host = host.to_ascii_lowercase();
    is_intercepted(&host).then_some(host)
}

/// Whether `host` (lower case, no port) is `{product}.twilio.com`,
/// `{product}.{region}.twilio.com`, `{product}.{edge}.twilio.com` or
/// `{product}.{edge}.{region}.twilio.com` for a product depot serves.
pub fn is_intercepted(host: &str) -> bool {
    let Some(prefix) = host.strip_suffix(".twilio.com") else {
        return false;
    };
    let labels: Vec<&str> = prefix.split('.').collect();
    let located = match labels.as_slice() {
        [_] => true,
        // `@twilio-labs/serverless-api` builds `{product}.{edge}.twilio.com` for an edge alone.
        [_, place] => is_region(place) || EDGES.contains(place),
        [_, edge, region] => EDGES.contains(edge) && is_region(region),
        _ => false,
    };
    located
        && labels
            .first()
            .is_some_and(|product| PRODUCTS.contains(product))
}

/// A Twilio region code: two letters and a digit (`us1`, `ie1`, `au1`, `jp2`, …). A pattern
/// rather than a list, since Twilio adds regions and the form is stable.
fn is_region(label: &str) -> bool {
    let b = label.as_bytes();
    b.len() == 3 && b[0].is_ascii_lowercase() && b[1].is_ascii_lowercase() && b[2].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_hosts_in_every_client_form_are_intercepted() {
        for target in [
            "serverless.twilio.com:443",
            "serverless-upload.twilio.com:443",
            "api.twilio.com:443",
            "SERVERLESS.Twilio.COM:443",
            "serverless.ie1.twilio.com:443",
            "serverless.dublin.ie1.twilio.com:443",
            "serverless.dublin.twilio.com:443",
            "serverless-upload.sydney.au1.twilio.com:443",
            "api.ashburn.us1.twilio.com:443",
            "api.sao-paulo.br1.twilio.com:443",
        ] {
            assert_eq!(
                connect_target(target).as_deref(),
                Some(
                    target
                        .trim_end_matches(":443")
                        .to_ascii_lowercase()
                        .as_str()
                ),
                "{target}"
            );
        }
    }

    #[test]
    fn look_alikes_other_products_ports_and_addresses_are_refused() {
        for target in [
            "serverless.twilio.com.evil.com:443",
            "evil-serverless.twilio.com:443",
            "serverlesstwilio.com:443",
            "serverless.twilio.com:80",
            "serverless.twilio.com:4000",
            "serverless.twilio.com",
            "serverless.twilio.com.:443",
            "chat.twilio.com:443",
            "studio.twilio.com:443",
            "twilio.com:443",
            ".twilio.com:443",
            "x.serverless.twilio.com:443",
            "serverless.evil.twilio.com:443",
            "serverless.evil.ie1.twilio.com:443",
            "serverless.ie1.dublin.twilio.com:443",
            "serverless.dublin.ie12.twilio.com:443",
            "serverless.dublin.ie1.x.twilio.com:443",
            "127.0.0.1:443",
            "127.0.0.1:4000",
            "localhost:443",
            "[::1]:443",
            "example.com:443",
            "",
            ":443",
        ] {
            assert_eq!(connect_target(target), None, "{target}");
        }
    }
}

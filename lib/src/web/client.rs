//! Who is asking, by network address: the client address API Gateway saw (the HTTP API's request
//! context, `requestContext.http.sourceIp`), which `emo-local` fills in from the TCP peer, and
//! the key it is counted under by the per-client bounds.
//!
//! Headers such as `X-Forwarded-For` are never read: a client can write them, the request
//! context it cannot. A request without a context (a direct invoke, a handler called in-process)
//! has no known address.

use std::net::{IpAddr, Ipv6Addr};

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// The address the request came from, as API Gateway (or `emo-local`) recorded it.
pub fn client_addr(req: &Request) -> Option<IpAddr> {
    let source = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    }?;
    source.trim().parse().ok()
}

/// The key a client address is counted under: an IPv4 address itself, an IPv6 address by its
/// /64 network (one subscriber is given a whole /64, so counting single IPv6 addresses would
/// count nothing). An IPv4 address mapped into IPv6 counts as the IPv4 address.
pub fn client_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

/// `req` as API Gateway hands it over from a client at `addr`: with an HTTP API (v2) request
/// context naming the source address (and keeping any other context it had). What `emo-local`
/// does with the TCP peer, and what tests do to speak from an address.
pub fn with_client_addr(mut req: Request, addr: IpAddr) -> Request {
    let mut ctx = match req.extensions_mut().remove::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx,
        _ => Default::default(),
    };
    ctx.http.source_ip = Some(addr.to_string());
    ctx.http.method = req.method().clone();
    ctx.http.path = Some(req.uri().path().to_owned());
    req.with_request_context(RequestContext::ApiGatewayV2(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn plain() -> Request {
        http::Request::builder()
            .method("POST")
            .uri("/api/v1/users/login")
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn the_address_comes_from_the_request_context_only() {
        let mut req = plain();
        req.headers_mut()
            .insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(client_addr(&req), None);
        let req = with_client_addr(req, "203.0.113.9".parse().unwrap());
        assert_eq!(client_addr(&req), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(req.uri().path(), "/api/v1/users/login");
    }

    #[test]
    fn the_api_gateway_fixture_carries_its_source_ip() {
        let req = lambda_http::request::from_str(include_str!("../../../events/users-login.json"))
            .unwrap();
        assert_eq!(client_addr(&req), Some("203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::7"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}

//! Where a finished video may be fetched from: [`VideoHosts`], the allow-list read from
//! `DASHSCOPE_VIDEO_HOSTS`, and the redirect policy that keeps a download on it.
//!
//! A task's `video_url` is followed without the API key, but it is still a URL someone else
//! wrote: a wrong base URL, a proxy or a bug upstream could point the worker at any host, and
//! ffmpeg then parses whatever came back. So only listed hosts are fetched, over https (http only
//! for a loopback host, which is the offline stand-in), and a redirect is followed only to a host
//! on the same list.
//!
//! A pattern is a host name, an IP address, or a name with wildcards: a leading `*.` matches one
//! or more labels in front (`*.example.com` matches `a.example.com` and `a.b.example.com`, not
//! `example.com`); a `*` inside any other label matches any run of characters within that label
//! only (`oss-*` matches `oss-cn-beijing`, never `oss-cn.beijing`). The last two labels must be
//! written out, so a pattern cannot open a whole top-level domain. No scheme, port or path.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

/// DashScope's result buckets as its references show them: the SUCCEEDED example's `video_url`
/// is on `dashscope-result-sh.oss-cn-shanghai.aliyuncs.com`
/// (<https://help.aliyun.com/zh/model-studio/image-to-video-api-reference>), and other regions'
/// answers are on `dashscope-result-bj.oss-cn-beijing`, `dashscope-result-wlcb.oss-cn-wulanchabu`,
/// `dashscope-result-sgp.oss-ap-southeast-1` and the accelerated `dashscope-result-sh.oss-accelerate`.
/// One pattern covers the `dashscope-result-<region>` buckets on every OSS endpoint without
/// allowing the rest of `aliyuncs.com` (other people's buckets, every Alibaba Cloud API). It
/// narrows where a download can go; it does not prove who owns a bucket so named.
pub const DEFAULT_VIDEO_HOSTS: &str = "dashscope-result-*.oss-*.aliyuncs.com";

/// The hosts a video may be downloaded from. [`Default`] is [`DEFAULT_VIDEO_HOSTS`].
#[derive(Clone, PartialEq, Eq)]
pub struct VideoHosts {
    patterns: Vec<Pattern>,
    /// The list as written (normalised), for logs and Debug.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Ip(IpAddr),
    Name {
        /// A leading `*.`: one or more labels in front of `labels`.
        any_subdomain: bool,
        /// Lower-case labels, each possibly holding `*`.
        labels: Vec<String>,
    },
}

impl Default for VideoHosts {
    fn default() -> Self {
        Self::parse(DEFAULT_VIDEO_HOSTS).expect("the default video hosts parse")
    }
}

impl fmt::Debug for VideoHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VideoHosts({})", self.text)
    }
}

impl fmt::Display for VideoHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl VideoHosts {
    /// Reads a comma-separated list of patterns (see the module docs). Fails, saying why, on an
    /// empty list, a scheme, port or path, a character a host name cannot hold, or a wildcard
    /// in the last two labels.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        let mut shown = Vec::new();
        for item in list.split(',') {
            let item = item.trim().to_ascii_lowercase();
            if item.is_empty() {
                continue;
            }
            patterns.push(pattern(&item).map_err(|why| format!("{item:?}: {why}"))?);
            shown.push(item);
        }
        if patterns.is_empty() {
            return Err("the list names no host".to_owned());
        }
        Ok(Self {
            patterns,
            text: shown.join(","),
        })
    }

    /// Whether `url` may be fetched: https to a listed host, or http to a listed loopback host.
    /// The error says why not, for logs.
    pub(crate) fn check(&self, url: &Url) -> Result<(), &'static str> {
        let Some(host) = url.host_str() else {
            return Err("the URL has no host");
        };
        let host = host.trim_end_matches('.');
        let ip = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .parse::<IpAddr>()
            .ok();
        let loopback = ip.map_or(host == "localhost", |ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err("the URL is http, not https"),
            _ => return Err("the URL is not http(s)"),
        }
        let listed = self.patterns.iter().any(|p| match (p, ip) {
            (Pattern::Ip(want), Some(ip)) => *want == ip,
            (Pattern::Name { .. }, Some(_)) | (Pattern::Ip(_), None) => false,
            (
                Pattern::Name {
                    any_subdomain,
                    labels,
                },
                None,
            ) => name_matches(*any_subdomain, labels, host),
        });
        if listed {
            Ok(())
        } else {
            Err("the host is not in DASHSCOPE_VIDEO_HOSTS")
        }
    }

    /// A redirect policy that follows at most 10 redirects, each only to a URL [`Self::check`]
    /// allows; any other ends the request with an [`OffList`] error.
    pub(crate) fn redirect_policy(&self) -> reqwest::redirect::Policy {
        let hosts = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > 10 {
                return attempt.error("more than 10 redirects");
            }
            match hosts.check(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => {
                    let host = attempt.url().host_str().unwrap_or("-").to_owned();
                    attempt.error(OffList { host, reason })
                }
            }
        })
    }
}

/// A redirect that [`VideoHosts::redirect_policy`] refused to follow.
#[derive(Debug, thiserror::Error)]
#[error("a redirect to {host} was refused: {reason}")]
pub(crate) struct OffList {
    pub(crate) host: String,
    pub(crate) reason: &'static str,
}

impl OffList {
    /// The refusal inside a failed request, if that is why it failed.
    pub(crate) fn in_error(e: &reqwest::Error) -> Option<&OffList> {
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(off) = s.downcast_ref::<OffList>() {
                return Some(off);
            }
            source = s.source();
        }
        None
    }
}

fn pattern(item: &str) -> Result<Pattern, &'static str> {
    if item.contains("://") || item.contains('/') || item.contains('@') {
        return Err("write a host only, without scheme, user or path");
    }
    let bare = item
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(item);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Pattern::Ip(ip));
    }
    if item.contains(':') {
        return Err("write a host only, without a port");
    }
    let (any_subdomain, rest) = match item.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, item),
    };
    let labels: Vec<String> = rest.split('.').map(str::to_owned).collect();
    let valid_label = |l: &String| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*')
    };
    if !labels.iter().all(valid_label) {
        return Err("a host name holds only letters, digits, '-', '.' and '*'");
    }
    let single = labels.len() == 1 && labels[0] == "localhost" && !any_subdomain;
    if labels.len() < 2 && !single {
        return Err("name at least a domain and its top-level domain");
    }
    if labels.iter().rev().take(2).any(|l| l.contains('*')) {
        return Err("the last two labels cannot hold '*'");
    }
    Ok(Pattern::Name {
        any_subdomain,
        labels,
    })
}

fn name_matches(any_subdomain: bool, labels: &[String], host: &str) -> bool {
    let host: Vec<&str> = host.split('.').collect();
    let fits = if any_subdomain {
        host.len() > labels.len()
    } else {
        host.len() == labels.len()
    };
    fits && host[host.len() - labels.len()..]
        .iter()
        .zip(labels)
        .all(|(h, p)| glob(p.as_bytes(), h.as_bytes()))
}

/// Whether `text` matches `pattern`, where `*` stands for any run of bytes.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(hosts: &VideoHosts, url: &str) -> bool {
        hosts.check(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn the_default_allows_dashscopes_result_buckets_and_nothing_else_on_aliyuncs() {
        let hosts = VideoHosts::default();
        for url in [
            "https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/a.mp4?Expires=1&Signature=x",
            "https://dashscope-result-wlcb.oss-cn-wulanchabu.aliyuncs.com/a.mp4",
            "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/a.mp4",
            "https://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/a.mp4",
            "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/a.mp4",
            "https://DASHSCOPE-RESULT-SH.OSS-CN-SHANGHAI.ALIYUNCS.COM/a.mp4",
        ] {
            assert!(allows(&hosts, url), "{url}");
        }
        for url in [
            "http://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/a.mp4",
            "https://someone-else.oss-cn-shanghai.aliyuncs.com/a.mp4",
            "https://dashscope.aliyuncs.com/api/v1/tasks",
            "https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com.evil.example/a.mp4",
            "https://x.dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/a.mp4",
            "https://dashscope-result-sh.evil.oss-cn-shanghai.aliyuncs.com/a.mp4",
            "https://127.0.0.1/a.mp4",
            "http://127.0.0.1:8080/a.mp4",
            "ftp://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/a.mp4",
        ] {
            assert!(!allows(&hosts, url), "{url}");
        }
    }

    #[test]
    fn loopback_hosts_may_use_http_and_others_may_not() {
        let hosts = VideoHosts::parse(" 127.0.0.1 , [::1], localhost, videos.example.com").unwrap();
        assert!(allows(&hosts, "http://127.0.0.1:4321/files/a.mp4"));
        assert!(allows(&hosts, "http://[::1]:4321/files/a.mp4"));
        assert!(allows(&hosts, "http://localhost:4321/files/a.mp4"));
        assert!(allows(&hosts, "https://videos.example.com/a.mp4"));
        assert!(!allows(&hosts, "http://videos.example.com/a.mp4"));
        assert!(!allows(&hosts, "http://127.0.0.2/a.mp4"), "not listed");
        assert!(!allows(&hosts, "https://10.0.0.1/a.mp4"));
    }

    #[test]
    fn a_leading_star_matches_subdomains_only() {
        let hosts = VideoHosts::parse("*.example.com").unwrap();
        assert!(allows(&hosts, "https://a.example.com/x"));
        assert!(allows(&hosts, "https://a.b.example.com/x"));
        assert!(!allows(&hosts, "https://example.com/x"));
        assert!(!allows(&hosts, "https://badexample.com/x"));
    }

    #[test]
    fn lists_that_would_open_too_much_or_are_not_hosts_are_refused() {
        for bad in [
            "",
            " , ",
            "*",
            "*.com",
            "example.*",
            "*.aliyuncs.*",
            "https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com",
            "example.com:443",
            "example.com/videos",
            "user@example.com",
            "exa mple.com",
            "com",
        ] {
            assert!(VideoHosts::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            VideoHosts::parse("A.Example.com,,localhost")
                .unwrap()
                .to_string(),
            "a.example.com,localhost"
        );
    }

    #[test]
    fn globs_stay_within_their_label() {
        assert!(glob(b"oss-*", b"oss-cn-beijing"));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"oss-*", b"os"));
    }
}

//! `flux-gate probe URL`: one GET, exit 0 on a 2xx answer and 1 otherwise, with the reason on
//! one line of stderr. The container healthcheck: slim runtime images have no curl or wget.

use std::time::Duration;

/// GETs `url` within `timeout`. `Ok(status)` for a 2xx answer; otherwise one line saying what
/// went wrong (refused, timed out, which status and the start of the body).
pub async fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {}", chain(&e)))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failure(url, timeout, &e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    // The body usually says why (`{"status":"unavailable","message":"redis down · kafka up"}`).
    let body = tokio::time::timeout(timeout, response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let body = one_line(&body, 200);
    Err(if body.is_empty() {
        format!("GET {url}: HTTP {status}")
    } else {
        format!("GET {url}: HTTP {status}: {body}")
    })
}

fn failure(url: &str, timeout: Duration, e: &reqwest::Error) -> String {
    if e.is_builder() {
        format!("`{url}` is not an http:// URL: {}", chain(e))
    } else if e.is_timeout() {
        format!("GET {url}: no answer within {timeout:?}")
    } else {
        format!("GET {url}: {}", chain(e))
    }
}

/// What went wrong, from the error's sources: `tcp connect error: Connection refused (os error
/// 111)` rather than reqwest's and hyper's wrappers around it (which repeat the URL).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        messages.push(s.to_string());
        source = s.source();
    }
    let last = messages.len() - 1;
    let parts: Vec<&str> = messages
        .iter()
        .enumerate()
        .filter(|(i, m)| {
            *i == last
                || !(m.starts_with("error sending request") || m.starts_with("client error ("))
        })
        .map(|(_, m)| m.as_str())
        .collect();
    one_line(&parts.join(": "), 300)
}

/// `text` on one line (whitespace runs collapsed), cut to at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

/// Parses `500ms`, `2s`, `1m` or a bare number of seconds.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 500ms, 2s, 1m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("`{text}`: unit must be ms, s or m")),
    };
    if d.is_zero() {
        return Err("the timeout must be longer than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_timeout("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("2h").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("").is_err());
    }

    #[test]
    fn reasons_fit_on_one_line() {
        assert_eq!(one_line("a\n  b\tc ", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}

//! `application/x-www-form-urlencoded` decoding: the query strings and form
//! bodies the Slack and Airtable stand-ins both read, decoded one way.

/// Decodes `application/x-www-form-urlencoded` pairs.
pub(crate) fn url_pairs(encoded: &str) -> Vec<(String, String)> {
    if encoded.is_empty() {
        return Vec::new();
    }
    reqwest::Url::parse(&format!("http://x/?{encoded}"))
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

//! Placeholders in stack values: `{{port}}`, `{{dir}}`, `{{addr.redis}}`, `{{link.kafka}}`, …
//!
//! Double braces, because the values include configuration files (nginx's) full of single
//! ones. An unknown placeholder is an error, never left in place silently.

use std::collections::BTreeMap;

/// What placeholders expand to for one service instance.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub values: BTreeMap<String, String>,
}

impl Vars {
    pub fn set(&mut self, k: impl Into<String>, v: impl Into<String>) -> &mut Self {
        self.values.insert(k.into(), v.into());
        self
    }

    /// `text` with every `{{name}}` replaced; the first unknown or unclosed one is an error.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let j = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without `}}}}` in `{text}`"))?;
            let name = after[..j].trim();
            let value = self.values.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
                format!(
                    "unknown placeholder `{{{{{name}}}}}` (known: {})",
                    known.join(", ")
                )
            })?;
            out.push_str(value);
            rest = &after[j + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_refuses_unknown() {
        let mut v = Vars::default();
        v.set("port", "7000").set("link.kafka", "127.0.0.1:9");
        assert_eq!(
            v.expand("http { listen {{port}}; }").unwrap(),
            "http { listen 7000; }"
        );
        assert_eq!(
            v.expand("tcp://{{ link.kafka }}").unwrap(),
            "tcp://127.0.0.1:9"
        );
        let e = v.expand("{{prot}}").unwrap_err();
        assert!(
            e.contains("unknown placeholder `{{prot}}`") && e.contains("port"),
            "{e}"
        );
        assert!(v.expand("{{port").unwrap_err().contains("without"));
        assert_eq!(v.expand("no placeholders").unwrap(), "no placeholders");
    }
}

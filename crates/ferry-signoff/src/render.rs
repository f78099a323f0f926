//! The template environment: HTML autoescaping on (templates are named `*.html`), strict
//! undefined (a misspelt field is an error, not a blank), and small formatting filters.

use crate::SignoffError;
use minijinja::{Environment, UndefinedBehavior};

pub(crate) const STYLE: &str = include_str!("templates/style.css");

/// An environment holding one template, named `name` (which must end in `.html`).
pub(crate) fn environment(
    name: &'static str,
    source: &'static str,
) -> Result<Environment<'static>, SignoffError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(minijinja::default_auto_escape_callback);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| template_error(name, &e))?;
    env.set_syntax(syntax);
    env.add_filter("thousands", |n: i64| thousands(n));
    env.add_filter("seconds", |ms: i64| seconds(ms));
    env.add_filter("signed", |n: i64| signed(n));
    env.add_filter("signed_seconds", |ms: i64| signed_seconds(ms));
    env.add_template(name, source)
        .map_err(|e| template_error(name, &e))?;
    Ok(env)
}

pub(crate) fn render<S: serde::Serialize>(
    name: &'static str,
    source: &'static str,
    ctx: &S,
) -> Result<String, SignoffError> {
    let env = environment(name, source)?;
    let tmpl = env
        .get_template(name)
        .map_err(|e| template_error(name, &e))?;
    tmpl.render(minijinja::Value::from(minijinja::value::Serde(ctx)))
        .map_err(|e| template_error(name, &e))
}

fn template_error(name: &str, e: &minijinja::Error) -> SignoffError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    SignoffError::Template {
        template: name.to_string(),
        message,
    }
}

/// `1234567` -> `1,234,567` (negative numbers keep their sign).
pub(crate) fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3 + 1);
    if n < 0 {
        out.push('\u{2212}');
    }
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `+1,234`, `−5`, `0`.
pub(crate) fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", thousands(n))
    } else {
        thousands(n)
    }
}

/// A duration difference: `+1.2 s`, `\u{2212}0.3 s`, `0.0 s` (what rounds to zero has no sign).
pub(crate) fn signed_seconds(ms: i64) -> String {
    let text = seconds(ms.abs());
    if text == "0.0 s" {
        text
    } else if ms > 0 {
        format!("+{text}")
    } else {
        format!("\u{2212}{text}")
    }
}

/// Milliseconds as seconds: `12.3 s`; a minute or more as `4 min 05 s`.
pub(crate) fn seconds(ms: i64) -> String {
    let ms = ms.max(0) as u64;
    if ms >= 60_000 {
        let s = ms / 1000;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1000), "\u{2212}1,000");
        assert_eq!(signed(12), "+12");
        assert_eq!(seconds(1234), "1.2 s");
        assert_eq!(seconds(245_000), "4 min 05 s");
        assert_eq!(signed_seconds(-30), "0.0 s", "no minus zero");
        assert_eq!(signed_seconds(-300), "\u{2212}0.3 s");
        assert_eq!(signed_seconds(61_000), "+1 min 01 s");
    }

    #[test]
    fn values_are_html_escaped() {
        #[derive(serde::Serialize)]
        struct Ctx {
            v: String,
        }
        let html = render(
            "t.html",
            "<p>{{ v }}</p>",
            &Ctx {
                v: "<script>alert('x')</script> & \"q\"".into(),
            },
        )
        .unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&amp;"), "{html}");
    }

    #[test]
    fn a_misspelt_field_is_an_error_not_a_blank() {
        #[derive(serde::Serialize)]
        struct Ctx {
            v: u8,
        }
        let e = render("t.html", "{{ w }}", &Ctx { v: 1 }).unwrap_err();
        assert!(e.to_string().contains("t.html"), "{e}");
    }
}

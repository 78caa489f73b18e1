//! The link check of the built book: every internal link of every page must resolve.
//!
//! An internal link is an `href` that is not external (it has no scheme such as `https:` or
//! `mailto:`, and does not start with `//`). It resolves if
//!
//! - its file exists in the build folder (relative to the page, or to the page's `<base>`,
//!   or to the book's root for a path starting with `/`; a folder stands for its
//!   `index.html`), and
//! - its `#fragment`, if the file is a page (`.html`), is the `id` of an element of that
//!   page (or the `name` of an `<a>`). A link that is only a `#fragment` names an element of
//!   its own page.
//!
//! mdBook's own assets (stylesheets, scripts, fonts, icons) are linked with `href`s too; they
//! are files of the build folder, so they pass as long as mdBook wrote them. Pages are read
//! with `html5gum`, a WHATWG tokenizer, so that attributes are read as a browser reads them
//! (character references decoded, `<script>` and `<style>` text skipped).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// What the check needs of one page: the fragments it defines and the links it makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageLinks {
    /// Every `id` (and `<a name>`) of the page.
    pub(crate) ids: BTreeSet<String>,
    /// Every `href`, in order, as written (character references decoded).
    pub(crate) hrefs: Vec<String>,
    /// The `href` of the page's `<base>`, if it has one.
    pub(crate) base: Option<String>,
}

/// Reads the ids, links and base of a page.
pub(crate) fn scan(html: &str) -> PageLinks {
    let mut emitter = DefaultEmitter::default();
    // Skip the text of `<script>`, `<style>` and the like as a browser does.
    emitter.naively_switch_states(true);
    let mut page = PageLinks::default();
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        let Token::StartTag(tag) = token else {
            continue;
        };
        let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
        let attr = |key: &str| {
            tag.attributes
                .get(key.as_bytes())
                .map(|v| String::from_utf8_lossy(&v.value).into_owned())
        };
        if let Some(id) = attr("id") {
            page.ids.insert(id);
        }
        if name == "a"
            && let Some(anchor) = attr("name")
        {
            page.ids.insert(anchor);
        }
        if let Some(href) = attr("href") {
            if name == "base" {
                page.base.get_or_insert(href);
            } else {
                page.hrefs.push(href);
            }
        }
    }
    page
}

/// A link that does not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken {
    /// The page holding the link, relative to the build folder.
    pub(crate) page: String,
    /// The `href` as written.
    pub(crate) href: String,
    /// Why it does not resolve.
    pub(crate) reason: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: href=\"{}\": {}", self.page, self.href, self.reason)
    }
}

/// The book's files, for resolving links: every file's path (relative to the build folder,
/// with `/`), and the scanned links of every page (`.html`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Site {
    /// Every file of the build folder.
    pub(crate) files: BTreeSet<String>,
    /// Every page with its links.
    pub(crate) pages: BTreeMap<String, PageLinks>,
    /// The path the book is served under (`site-url`, e.g. `/` or `/revoke-spec/`): an
    /// `href` starting with it starts at the book's root.
    pub(crate) site_url: String,
}

impl Site {
    /// Reads every file under `build_dir`, scanning its pages.
    pub(crate) fn read(build_dir: &Path, site_url: &str) -> Result<Site, String> {
        let mut site = Site {
            site_url: site_url.to_string(),
            ..Site::default()
        };
        let mut dirs = vec![build_dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry
                    .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                    .path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(build_dir) else {
                    continue;
                };
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel.ends_with(".html") {
                    let html = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    site.pages.insert(rel.clone(), scan(&html));
                }
                site.files.insert(rel);
            }
        }
        Ok(site)
    }

    /// Every link of every page that does not resolve, by page and in page order; and the
    /// number of internal links checked.
    pub(crate) fn check(&self) -> (Vec<Broken>, usize) {
        let mut broken = Vec::new();
        let mut checked = 0;
        for (page, links) in &self.pages {
            for href in &links.hrefs {
                match self.resolve(page, links, href) {
                    Resolved::External => {}
                    Resolved::Ok => checked += 1,
                    Resolved::Broken(reason) => {
                        checked += 1;
                        broken.push(Broken {
                            page: page.clone(),
                            href: href.clone(),
                            reason,
                        });
                    }
                }
            }
        }
        (broken, checked)
    }

    fn resolve(&self, page: &str, links: &PageLinks, href: &str) -> Resolved {
        let href = href.trim();
        if is_external(href) {
            return Resolved::External;
        }
        let (path, fragment) = match href.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment)),
            None => (href, None),
        };
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let target = if path.is_empty() {
            // `#fragment` (or an empty `href`): this page.
            page.to_string()
        } else {
            let base = links.base.as_deref().filter(|b| !is_external(b));
            match self.join(page, base, &percent_decode(path)) {
                Some(target) => target,
                None => return Resolved::Broken("points outside the book".to_string()),
            }
        };
        let target = if target.is_empty() || target.ends_with('/') {
            format!("{target}index.html")
        } else if !self.files.contains(&target)
            && self.files.contains(&format!("{target}/index.html"))
        {
            format!("{target}/index.html")
        } else {
            target
        };
        if !self.files.contains(&target) {
            return Resolved::Broken(format!("{target} does not exist"));
        }
        let Some(fragment) = fragment.map(percent_decode).filter(|f| !f.is_empty()) else {
            return Resolved::Ok;
        };
        match self.pages.get(&target) {
            Some(target_page) if !target_page.ids.contains(&fragment) => {
                let on = if target == page {
                    "this page".to_string()
                } else {
                    target
                };
                Resolved::Broken(format!("no id=\"{fragment}\" on {on}"))
            }
            _ => Resolved::Ok,
        }
    }

    /// The file `path` names from `page` (whose `<base>` is `base`), relative to the build
    /// folder; `None` if it leaves the book.
    fn join(&self, page: &str, base: Option<&str>, path: &str) -> Option<String> {
        let site = self.site_url.trim_end_matches('/');
        let from_root = |p: &str| -> String {
            p.strip_prefix(site)
                .filter(|rest| rest.starts_with('/'))
                .unwrap_or(p)
                .trim_start_matches('/')
                .to_string()
        };
        // The folder the path is relative to, relative to the build folder.
        let dir = match base {
            Some(base) if base.starts_with('/') => {
                let base = from_root(base);
                match base.rfind('/') {
                    Some(i) => base[..=i].to_string(),
                    None => String::new(),
                }
            }
            Some(base) => {
                let page_dir = page.rfind('/').map_or("", |i| &page[..=i]);
                let base = format!("{page_dir}{base}");
                base.rfind('/')
                    .map_or(String::new(), |i| base[..=i].to_string())
            }
            None => page
                .rfind('/')
                .map_or(String::new(), |i| page[..=i].to_string()),
        };
        let joined = if path.starts_with('/') {
            from_root(path)
        } else {
            format!("{dir}{path}")
        };
        normalize(&joined)
    }
}

enum Resolved {
    External,
    Ok,
    Broken(String),
}

/// True for a link that leaves the book: one with a scheme (`https:`, `mailto:`, `data:`)
/// or a network path (`//host/...`).
fn is_external(href: &str) -> bool {
    if href.starts_with("//") {
        return true;
    }
    let Some((scheme, _)) = href.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `a/./b/../c` as `a/c`, keeping a final `/`; `None` if `..` leaves the root.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    for segment in &segments {
        match *segment {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    let mut out = parts.join("/");
    if matches!(segments[last], "" | "." | "..") && !out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// `%XX` escapes decoded (as a browser does before matching a path or a fragment); an
/// invalid escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks every link of the book built in `build_dir` (served under `site_url`): prints the
/// count, and fails listing every broken link (page, `href`, why) if there is any.
pub(crate) fn check(build_dir: &Path, site_url: &str) -> Result<(), String> {
    let site = Site::read(build_dir, site_url)?;
    let (broken, checked) = site.check();
    if broken.is_empty() {
        println!(
            "links: all {checked} internal links of {} pages resolve",
            site.pages.len()
        );
        return Ok(());
    }
    let mut message = format!(
        "{} of {checked} internal links of the built book do not resolve:",
        broken.len()
    );
    for b in &broken {
        message.push_str(&format!("\n  {}/{b}", build_dir.display()));
    }
    Err(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(pages: &[(&str, &str)], other_files: &[&str]) -> Site {
        Site {
            files: pages
                .iter()
                .map(|(p, _)| p.to_string())
                .chain(other_files.iter().map(|f| f.to_string()))
                .collect(),
            pages: pages
                .iter()
                .map(|(p, html)| (p.to_string(), scan(html)))
                .collect(),
            site_url: "/".to_string(),
        }
    }

    fn broken(site: &Site) -> Vec<String> {
        site.check().0.iter().map(Broken::to_string).collect()
    }

    #[test]
    fn scan_reads_ids_hrefs_and_base() {
        let html = r#"<!doctype html><html><head><base href="/">
<link rel="stylesheet" href="css/a.css">
<script>var s = '<a href="in-script.html" id="no">';</script>
<style>a[href="in-style.html"] {}</style></head>
<body><h1 id="top">T</h1><a name="old"></a>
<!-- <a href="commented.html"> -->
<a href='x.html#a&amp;b' ID=caps>x</a><div id="r-a.b"></div></body></html>"#;
        let page = scan(html);
        assert_eq!(page.base.as_deref(), Some("/"));
        assert_eq!(page.hrefs, vec!["css/a.css", "x.html#a&b"]);
        assert_eq!(
            page.ids.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["caps", "old", "r-a.b", "top"]
        );
    }

    #[test]
    fn good_links_pass() {
        let s = site(
            &[
                (
                    "index.html",
                    r##"<a href="a.html">a</a><a href="a.html#r-x.y">r</a>
<a href="#here">h</a><p id="here"></p><a href="sub/">s</a><a href="#">top</a>
<a href="a.html?x=1#r-x.y">q</a><a href="a.html#sp%20ace">sp</a>
<a href="https://example.com/x.html#nope">e</a><a href="mailto:a@b">m</a>
<a href="//cdn.example/x.html">n</a><link href="css/x.css">"##,
                ),
                (
                    "a.html",
                    r#"<div id="r-x.y"></div><span id="sp ace"></span><a href="sub/b.html#b">b</a>"#,
                ),
                ("sub/index.html", ""),
                (
                    "sub/b.html",
                    r##"<i id="b"></i><a href="../a.html#r-x.y">up</a>"##,
                ),
            ],
            &["css/x.css"],
        );
        assert_eq!(broken(&s), Vec::<String>::new());
        assert_eq!(s.check().1, 10);
    }

    #[test]
    fn broken_links_are_each_reported() {
        let s = site(
            &[
                (
                    "index.html",
                    r##"<a href="missing.html">m</a><a href="a.html#nope">n</a>
<a href="#gone">g</a><a href="../outside.html">o</a><link href="css/missing.css">"##,
                ),
                ("a.html", r#"<div id="yes"></div>"#),
                ("sub/b.html", r#"<a href="a.html#yes">wrong folder</a>"#),
            ],
            &[],
        );
        assert_eq!(
            broken(&s),
            vec![
                "index.html: href=\"missing.html\": missing.html does not exist",
                "index.html: href=\"a.html#nope\": no id=\"nope\" on a.html",
                "index.html: href=\"#gone\": no id=\"gone\" on this page",
                "index.html: href=\"../outside.html\": points outside the book",
                "index.html: href=\"css/missing.css\": css/missing.css does not exist",
                "sub/b.html: href=\"a.html#yes\": sub/a.html does not exist",
            ]
        );
    }

    #[test]
    fn base_and_site_url_are_followed() {
        // mdBook's 404 page has `<base href="/">`, so its links start at the root.
        let mut s = site(
            &[
                (
                    "sub/404.html",
                    r#"<base href="/"><a href="a.html#x">a</a><a href="/">root</a>"#,
                ),
                ("index.html", ""),
                (
                    "a.html",
                    r#"<b id="x"></b><a href="/book/a.html#x">abs</a>"#,
                ),
            ],
            &[],
        );
        s.site_url = "/book/".to_string();
        assert_eq!(broken(&s), Vec::<String>::new());
    }

    #[test]
    fn paths_and_escapes() {
        assert_eq!(normalize("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize("a/b/..").as_deref(), Some("a/"));
        assert_eq!(normalize("sub/").as_deref(), Some("sub/"));
        assert_eq!(normalize("../x"), None);
        assert_eq!(percent_decode("a%20b%zz%"), "a b%zz%");
        assert!(is_external("HTTPS://x") && is_external("mailto:x") && is_external("//x"));
        assert!(!is_external("a.html#b:c") && !is_external("#x") && !is_external("a/b"));
    }
}

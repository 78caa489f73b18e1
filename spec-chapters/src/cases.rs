//! Conformance cases in `rust,case` blocks: their names, the rules they name and check, and
//! their parameters, read with `syn` so that every problem has a chapter line.

use syn::spanned::Spanned;
use syn::visit::Visit;

use crate::{CodeBlock, Diagnostic};

/// A rule ID as written in a case, with the chapter line where it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRule {
    /// The rule ID (after alias resolution once the spec is loaded).
    pub id: String,
    /// 1-based chapter line.
    pub line: usize,
}

/// A parameter of a case, expanded into one variant per value (`#[values(..)]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseParam {
    /// The parameter's name.
    pub name: String,
    /// `(label, expression)` per value; the label names the snapshot.
    pub variants: Vec<(String, String)>,
}

/// One conformance case: a function in a `rust,case` block marked `#[case(...)]`.
#[derive(Debug, Clone)]
pub struct CaseInfo {
    /// The function's name, which is the case's name.
    pub name: String,
    /// First line of the doc comment.
    pub title: String,
    /// Chapter path relative to the book's `src` folder.
    pub chapter: String,
    /// 1-based chapter line of the `fn`.
    pub line: usize,
    /// Rules named in `#[case(rules(...))]`.
    pub rules: Vec<CheckedRule>,
    /// Every `check("rule.id", ...)` in the body.
    pub checks: Vec<CheckedRule>,
    /// Parameters after the scenario argument.
    pub params: Vec<CaseParam>,
}

impl CaseInfo {
    /// Every combination of parameter values, as `(variant label, argument expressions)`.
    /// A case without parameters has one variant with an empty label.
    pub fn variants(&self) -> Vec<(String, Vec<String>)> {
        let mut out = vec![(String::new(), Vec::new())];
        for param in &self.params {
            let mut next = Vec::new();
            for (label, args) in &out {
                for (vlabel, expr) in &param.variants {
                    let label = if label.is_empty() {
                        vlabel.clone()
                    } else {
                        format!("{label}_{vlabel}")
                    };
                    let mut args = args.clone();
                    args.push(expr.clone());
                    next.push((label, args));
                }
            }
            out = next;
        }
        out
    }
}

/// Parses one `rust,case` block.
pub(crate) fn parse_block(block: &CodeBlock, diags: &mut Vec<Diagnostic>) -> Vec<CaseInfo> {
    // Parse with proc-macro2's own implementation so that spans carry lines even when this
    // runs inside the proc-macro; nothing parsed here leaves this function.
    proc_macro2::fallback::force();
    let out = parse_forced(block, diags);
    proc_macro2::fallback::unforce();
    out
}

fn parse_forced(block: &CodeBlock, diags: &mut Vec<Diagnostic>) -> Vec<CaseInfo> {
    let at = |span: proc_macro2::Span| block.line + span.start().line.saturating_sub(1);
    let file = match syn::parse_file(&block.code) {
        Ok(f) => f,
        Err(e) => {
            diags.push(Diagnostic::new(
                &block.chapter,
                at(e.span()),
                format!("malformed block: {}", explain(&e)),
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in &file.items {
        let syn::Item::Fn(func) = item else { continue };
        let Some(attr) = func.attrs.iter().find(|a| a.path().is_ident("case")) else {
            continue;
        };
        let name = func.sig.ident.to_string();
        let line = at(func.sig.ident.span());
        let mut case = CaseInfo {
            name: name.clone(),
            title: doc_title(&func.attrs),
            chapter: block.chapter.clone(),
            line,
            rules: Vec::new(),
            checks: Vec::new(),
            params: Vec::new(),
        };
        parse_case_attr(attr, &mut case, &at, diags);
        parse_params(func, &mut case, &at, diags);
        let mut visitor = CheckVisitor {
            checks: Vec::new(),
            errors: Vec::new(),
            at: &at,
        };
        visitor.visit_block(&func.block);
        for (l, msg) in visitor.errors {
            diags.push(Diagnostic::new(&block.chapter, l, msg));
        }
        case.checks = visitor.checks;
        validate(&mut case, diags);
        out.push(case);
    }
    if out.is_empty() {
        diags.push(Diagnostic::new(
            &block.chapter,
            block.line,
            "malformed block: a `rust,case` block must hold at least one `fn` marked `#[case(rules(...))]`",
        ));
    }
    out
}

fn doc_title(attrs: &[syn::Attribute]) -> String {
    // The doc comment's first paragraph, joined into one line.
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines
        .iter()
        .take_while(|l| !l.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_case_attr(
    attr: &syn::Attribute,
    case: &mut CaseInfo,
    at: &dyn Fn(proc_macro2::Span) -> usize,
    diags: &mut Vec<Diagnostic>,
) {
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("rules") {
            let content;
            syn::parenthesized!(content in meta.input);
            let ids = content.parse_terminated(
                |input: syn::parse::ParseStream<'_>| input.parse::<syn::LitStr>(),
                syn::Token![,],
            )?;
            for lit in ids {
                case.rules.push(CheckedRule {
                    id: lit.value(),
                    line: at(lit.span()),
                });
            }
            Ok(())
        } else {
            Err(meta.error("unknown case attribute: expected `rules(\"rule.id\", ...)`"))
        }
    });
    if let Err(e) = result {
        diags.push(Diagnostic::new(
            &case.chapter,
            at(e.span()),
            format!("malformed case `{}`: {e}", case.name),
        ));
    }
}

fn parse_params(
    func: &syn::ItemFn,
    case: &mut CaseInfo,
    at: &dyn Fn(proc_macro2::Span) -> usize,
    diags: &mut Vec<Diagnostic>,
) {
    for input in func.sig.inputs.iter().skip(1) {
        let syn::FnArg::Typed(pat) = input else {
            continue;
        };
        let name = quote::ToTokens::to_token_stream(&pat.pat).to_string();
        let Some(values) = pat.attrs.iter().find(|a| a.path().is_ident("values")) else {
            diags.push(Diagnostic::new(
                &case.chapter,
                at(pat.span()),
                format!(
                    "case `{}`: parameter `{name}` needs `#[values(...)]` listing the values to run it with",
                    case.name
                ),
            ));
            continue;
        };
        let parsed = values.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        );
        match parsed {
            Ok(paths) => case.params.push(CaseParam {
                name,
                variants: paths
                    .iter()
                    .map(|p| {
                        let last = p
                            .segments
                            .last()
                            .map(|s| s.ident.to_string())
                            .unwrap_or_default();
                        (
                            snake_case(&last),
                            quote::ToTokens::to_token_stream(p).to_string(),
                        )
                    })
                    .collect(),
            }),
            Err(e) => diags.push(Diagnostic::new(
                &case.chapter,
                at(e.span()),
                format!("case `{}`: malformed `#[values(...)]`: {e}", case.name),
            )),
        }
    }
}

fn validate(case: &mut CaseInfo, diags: &mut Vec<Diagnostic>) {
    if case.rules.is_empty() {
        diags.push(Diagnostic::new(
            &case.chapter,
            case.line,
            format!(
                "case `{}` names no rule: add `#[case(rules(\"rule.id\"))]` naming the rules it checks",
                case.name
            ),
        ));
    }
    for (i, rule) in case.rules.iter().enumerate() {
        if case.rules[..i].iter().any(|r| r.id == rule.id) {
            diags.push(Diagnostic::new(
                &case.chapter,
                rule.line,
                format!("case `{}` names rule `{}` twice", case.name, rule.id),
            ));
        }
        if !case.checks.iter().any(|c| c.id == rule.id) {
            diags.push(Diagnostic::new(
                &case.chapter,
                rule.line,
                format!(
                    "case `{}` names rule `{}` but never checks it: add `s.check(\"{}\", ...)`",
                    case.name, rule.id, rule.id
                ),
            ));
        }
    }
    for check in &case.checks {
        if !case.rules.iter().any(|r| r.id == check.id) {
            diags.push(Diagnostic::new(
                &case.chapter,
                check.line,
                format!(
                    "case `{}` checks rule `{}` but does not name it in `#[case(rules(...))]`",
                    case.name, check.id
                ),
            ));
        }
    }
}

fn snake_case(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Collects `check("rule.id", ...)` calls.
struct CheckVisitor<'a> {
    checks: Vec<CheckedRule>,
    errors: Vec<(usize, String)>,
    at: &'a dyn Fn(proc_macro2::Span) -> usize,
}

impl<'ast> Visit<'ast> for CheckVisitor<'_> {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "check" {
            match call.args.first() {
                Some(syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                })) => self.checks.push(CheckedRule {
                    id: s.value(),
                    line: (self.at)(s.span()),
                }),
                _ => self.errors.push((
                    (self.at)(call.method.span()),
                    "the first argument of `check` must be the rule ID as a string literal".into(),
                )),
            }
        }
        syn::visit::visit_expr_method_call(self, call);
    }
}

/// Reports a syntax error in a `rust,reference` block at its chapter line.
pub(crate) fn check_syntax(block: &CodeBlock, diags: &mut Vec<Diagnostic>) {
    proc_macro2::fallback::force();
    if let Err(e) = syn::parse_file(&block.code) {
        let line = block.line + e.span().start().line.saturating_sub(1);
        diags.push(Diagnostic::new(
            &block.chapter,
            line,
            format!("malformed block: {}", explain(&e)),
        ));
    }
    proc_macro2::fallback::unforce();
}

/// syn's message, with the lexer's terse one made useful.
fn explain(e: &syn::Error) -> String {
    let msg = e.to_string();
    if msg == "cannot parse string into token stream" {
        "unbalanced delimiters or an invalid token (is a `(`, `[` or `{` never closed?)".to_string()
    } else {
        msg
    }
}

//! Expansion: load the book, report every diagnostic, or emit the code.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use spec_chapters::{BlockKind, Diagnostic, Spec, Strength};
use syn::visit_mut::VisitMut;

use crate::args::Args;

/// All diagnostics as `compile_error!`s, so an author sees every mistake at once.
fn errors(diags: &[Diagnostic], span: Span) -> TokenStream {
    let errs = diags.iter().map(|d| {
        let msg = d.to_string();
        quote::quote_spanned!(span=> ::core::compile_error!(#msg);)
    });
    quote!(#(#errs)*)
}

/// `include_bytes!` of every file read, so that rustc (and so Cargo) rebuilds on a change.
fn track(spec: &Spec, only: Option<&str>) -> TokenStream {
    let mut paths: Vec<String> = spec
        .chapters
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.path))
        .map(|c| spec.src_dir.join(&c.path).to_string_lossy().into_owned())
        .collect();
    let history = spec.src_dir.parent().map(|p| p.join("rules-history.toml"));
    if let Some(h) = history.filter(|h| h.is_file()) {
        paths.push(h.to_string_lossy().into_owned());
    }
    quote!(#(const _: &[u8] = ::core::include_bytes!(#paths);)*)
}

fn parse_code(
    code: &str,
    chapter: &str,
    line: usize,
    span: Span,
) -> Result<syn::File, TokenStream> {
    syn::parse_str::<syn::File>(code).map_err(|e| {
        errors(
            &[Diagnostic::new(
                chapter,
                line,
                format!("malformed block: {e}"),
            )],
            span,
        )
    })
}

/// `reference!`: the chapter's reference blocks.
pub(crate) fn reference(args: &Args) -> TokenStream {
    let chapter = args.chapter.as_ref().map(|c| c.value()).unwrap_or_default();
    let (spec, diags) = Spec::load(&args.src_dir);
    let Some(ch) = spec.chapters.iter().find(|c| c.path == chapter) else {
        let msg = format!("no chapter `{chapter}` in {}", args.src_dir.display());
        let span = args.chapter.as_ref().map(|c| c.span()).unwrap_or(args.span);
        return quote::quote_spanned!(span=> ::core::compile_error!(#msg););
    };
    let mine: Vec<Diagnostic> = diags.into_iter().filter(|d| d.file == chapter).collect();
    if !mine.is_empty() {
        return errors(&mine, args.span);
    }
    let mut out = track(&spec, Some(&chapter));
    for block in ch.blocks.iter().filter(|b| b.kind == BlockKind::Reference) {
        match parse_code(&block.code, &block.chapter, block.line, args.span) {
            Ok(file) => out.extend(quote!(#file)),
            Err(e) => return e,
        }
    }
    out
}

/// Removes the suite's own attributes (`#[case]`, `#[values]`) that rustc does not know.
struct StripCaseAttrs;

impl VisitMut for StripCaseAttrs {
    fn visit_item_fn_mut(&mut self, f: &mut syn::ItemFn) {
        f.attrs.retain(|a| !a.path().is_ident("case"));
        for input in f.sig.inputs.iter_mut() {
            if let syn::FnArg::Typed(p) = input {
                p.attrs.retain(|a| !a.path().is_ident("values"));
            }
        }
        syn::visit_mut::visit_item_fn_mut(self, f);
    }
}

fn strength(s: Strength) -> TokenStream {
    match s {
        Strength::Must => quote!(::judge::Strength::Must),
        Strength::Should => quote!(::judge::Strength::Should),
        Strength::May => quote!(::judge::Strength::May),
    }
}

/// What `conformance!` expands to after an error: the diagnostics, and the tables the rest of
/// the crate names, empty, so that one mistake in the book gives its own diagnostics and
/// nothing that only follows from them.
fn conformance_fallback(mut diagnostics: TokenStream) -> TokenStream {
    diagnostics.extend(quote! {
        /// The book's rules and cases (none: the book has errors).
        pub fn spec() -> ::judge::Spec {
            ::judge::Spec { rules: &[], aliases: &[], cases: &[] }
        }
    });
    diagnostics
}

/// `conformance!`: case functions and `spec()`, the book's rules and cases.
pub(crate) fn conformance(args: &Args) -> TokenStream {
    let (spec, diags) = Spec::load(&args.src_dir);
    if !diags.is_empty() {
        return conformance_fallback(errors(&diags, args.span));
    }
    let mut out = track(&spec, None);
    for block in spec
        .chapters
        .iter()
        .flat_map(|c| &c.blocks)
        .filter(|b| b.kind == BlockKind::Case)
    {
        match parse_code(&block.code, &block.chapter, block.line, args.span) {
            Ok(mut file) => {
                StripCaseAttrs.visit_file_mut(&mut file);
                out.extend(quote!(#file));
            }
            Err(e) => return conformance_fallback(e),
        }
    }
    let rules = spec.rules.values().map(|r| {
        let (id, text, chapter, hash) = (&r.id, &r.text, &r.chapter, &r.hash);
        let line = r.line as u32;
        let strength = strength(r.strength);
        let since = match &r.since {
            Some(v) => quote!(Some(#v)),
            None => quote!(None),
        };
        let earlier_with = match &r.earlier_with {
            Some(v) => quote!(Some(#v)),
            None => quote!(None),
        };
        quote!(::judge::RuleDef { id: #id, strength: #strength, text: #text, chapter: #chapter, line: #line, hash: #hash, since: #since, earlier_with: #earlier_with })
    });
    let aliases = spec
        .history
        .aliases
        .iter()
        .map(|(old, new)| quote!((#old, #new)));
    let cases =
        spec.cases.values().map(|c| {
            let (name, title, chapter) = (&c.name, &c.title, &c.chapter);
            let line = c.line as u32;
            let func = format_ident!("{}", c.name);
            let rules = c.rules.iter().map(|r| &r.id);
            let variants = c.variants().into_iter().map(|(label, exprs)| {
            let exprs = exprs.iter().map(|e| e.parse::<TokenStream>().unwrap_or_default());
            quote!(::judge::CaseVariant { label: #label, build: |s: &mut ::judge::Scenario| #func(s #(, #exprs)*) })
        });
            quote!(::judge::CaseDef {
                name: #name, title: #title, chapter: #chapter, line: #line,
                rules: &[#(#rules),*], variants: &[#(#variants),*],
            })
        });
    out.extend(quote! {
        /// The book's rules and cases: what a run judges against.
        pub fn spec() -> ::judge::Spec {
            const RULES: &[::judge::RuleDef] = &[#(#rules),*];
            const RULE_ALIASES: &[(&str, &str)] = &[#(#aliases),*];
            const CASES: &[::judge::CaseDef] = &[#(#cases),*];
            ::judge::Spec { rules: RULES, aliases: RULE_ALIASES, cases: CASES }
        }
    });
    out
}

/// `case_tests!`: one snapshot test per case (an `rstest` with named cases when the case is
/// parameterised).
pub(crate) fn case_tests(runner: &syn::Path) -> TokenStream {
    let args = match Args::parse(TokenStream::new(), false) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error(),
    };
    let (spec, diags) = Spec::load(&args.src_dir);
    if !diags.is_empty() {
        return errors(&diags, args.span);
    }
    let mut out = track(&spec, None);
    for case in spec.cases.values() {
        let name = &case.name;
        let test = format_ident!("{}", case.name);
        let variants = case.variants();
        if variants.len() == 1 && variants[0].0.is_empty() {
            out.extend(quote! {
                #[test]
                fn #test() { #runner(#name, ""); }
            });
        } else {
            let attrs = variants.iter().map(|(label, _)| {
                // A label that is a keyword (`static`) gets a trailing underscore.
                let l = syn::parse_str::<syn::Ident>(label)
                    .unwrap_or_else(|_| format_ident!("{}_", label));
                quote!(#[case::#l(#label)])
            });
            out.extend(quote! {
                #[::rstest::rstest]
                #(#attrs)*
                fn #test(#[case] variant: &str) { #runner(#name, variant); }
            });
        }
    }
    out
}

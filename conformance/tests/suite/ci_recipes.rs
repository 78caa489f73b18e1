//! The CI recipes of the book's chapter "Gating CI on the suite" are real: the GitLab CI job
//! parses as YAML, has the shape GitLab reads (a script, a JUnit report, `parallel` jobs), and
//! its script, run as GitLab would run it in each of its parallel jobs (with the runner on the
//! `PATH` and the Python shim template as `$SHIM_CMD`), passes and writes the JUnit report it
//! names. (The GitHub Actions workflow is checked by actionlint in `cargo xtask test`, and the
//! KTAP recipe by `kunit.py parse` in the full test run.)

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The chapter's fenced blocks tagged `lang,tag`.
fn blocks(tag: &str) -> Vec<String> {
    let chapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src/ci.md");
    let text = std::fs::read_to_string(&chapter).expect("the chapter");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.starts_with("```") && line.ends_with(&format!(",{tag}")) => {
                current = Some(String::new());
            }
            Some(block) if line.starts_with("```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_vec()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

#[test]
fn the_gitlab_ci_job_parses_and_its_script_passes_in_every_parallel_job() {
    let recipes = blocks("gitlab-ci");
    assert_eq!(recipes.len(), 1, "one GitLab CI recipe in ci.md");
    let docs = YamlLoader::load_from_str(&recipes[0]).expect("valid YAML");
    let job = &docs[0]["conformance"];
    assert!(!job.is_badvalue(), "a job named conformance");
    let script = strings(&job["script"]);
    assert!(!script.is_empty(), "the job has a script");
    assert!(
        strings(&job["before_script"])
            .iter()
            .any(|l| l.starts_with("cargo install --locked --git ")),
        "the job installs the runner"
    );
    let report = job["artifacts"]["reports"]["junit"]
        .as_str()
        .expect("a JUnit report")
        .to_string();
    let parallel = job["parallel"].as_i64().expect("parallel jobs");
    assert!(parallel >= 2);

    let bin = Path::new(env!("CARGO_BIN_EXE_revoke-conformance"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("a folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shims-py/iommufd_importer.py");
    let mut cases = 0;
    for index in 1..=parallel {
        let dir = tempfile::tempdir().expect("a temp dir");
        // A driver with no known failure yet.
        std::fs::write(dir.path().join("expectations.toml"), "expected = []\n").expect("write");
        for line in &script {
            let o = Command::new("sh")
                .args(["-eu", "-c", line])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("SHIM_CMD", format!("python3 {}", template.display()))
                .env("CI_NODE_INDEX", index.to_string())
                .env("CI_NODE_TOTAL", parallel.to_string())
                .output()
                .expect("sh runs");
            assert!(
                o.status.success(),
                "`{line}` failed in job {index}/{parallel}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let xml = std::fs::read_to_string(dir.path().join(&report)).expect("the JUnit report");
        let doc = roxmltree::Document::parse(&xml).expect("JUnit XML");
        let root = doc.root_element();
        assert_eq!(root.attribute("failures"), Some("0"), "{xml}");
        cases += root
            .attribute("tests")
            .and_then(|n| n.parse::<usize>().ok())
            .expect("a test count");
    }
    assert!(cases > 0, "the parallel jobs ran cases");
}

#[test]
fn the_github_actions_workflow_splits_the_run_as_the_gitlab_job_does() {
    let recipes = blocks("github-actions");
    assert_eq!(recipes.len(), 1, "one GitHub Actions recipe in ci.md");
    let docs = YamlLoader::load_from_str(&recipes[0]).expect("valid YAML");
    let job = &docs[0]["jobs"]["conformance"];
    let parts = job["strategy"]["matrix"]["part"]
        .as_vec()
        .expect("a matrix of parts")
        .len();
    let run: String = job["steps"]
        .as_vec()
        .into_iter()
        .flatten()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        run.contains(&format!("--partition \"${{{{ matrix.part }}}}/{parts}\"")),
        "{run}"
    );
    assert!(run.contains("--format junit"), "{run}");
}

//! Every golden case renders byte-identical to the files Python Jinja2 rendered from its
//! `context.json` (see `shared/fixtures/proton-samples/SOURCE.md`).

use std::path::{Path, PathBuf};

use deuteron_bundle::{Bundle, BundleFiles, Limits};
use deuteron_render::golden::GoldenContext;
use deuteron_render::{Renderer, ResourceMeta};

fn shared_dir() -> PathBuf {
    std::env::var_os("DEUTERON_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            cases(&p, out);
        } else if p.file_name().is_some_and(|n| n == "context.json") {
            out.push(p.parent().unwrap().to_path_buf());
        }
    }
}

fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, base, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn every_golden_case_renders_byte_identical() {
    let shared = shared_dir();
    let golden = shared.join("fixtures/proton-samples/golden");
    let samples = shared.join("fixtures/proton-samples/cloudformation");
    let mut found = Vec::new();
    cases(&golden, &mut found);
    assert!(found.len() >= 40, "expected the 40 golden cases under {}, found {}", golden.display(), found.len());
    let renderer = Renderer::default();
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &found {
        let text = std::fs::read_to_string(case.join("context.json")).unwrap();
        let ctx = GoldenContext::parse("context.json", &text).unwrap();
        let bundle_dir = samples.join(ctx.bundle.as_deref().unwrap());
        let files = BundleFiles::load(&bundle_dir, &Limits::default()).unwrap();
        let bundle = Bundle::parse_detected(files).unwrap_or_else(|e| panic!("{}: {e}", bundle_dir.display()));
        let rendered = match ctx.render(&renderer, &bundle, &ResourceMeta::default()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: render failed: {e}", case.display()));
                continue;
            }
        };
        let mut expected = Vec::new();
        files_under(case, case, &mut expected);
        expected.retain(|f| f != "context.json");
        expected.sort();
        let mut got: Vec<String> = rendered.iter().map(|f| f.path.clone()).collect();
        got.sort();
        if got != expected {
            failures.push(format!("{}: rendered files {got:?}, golden files {expected:?}", case.display()));
            continue;
        }
        for f in &rendered {
            let want = std::fs::read(case.join(&f.path)).unwrap();
            compared += 1;
            if want != f.contents {
                let diff = similar::TextDiff::from_lines(std::str::from_utf8(&want).unwrap(), std::str::from_utf8(&f.contents).unwrap())
                    .unified_diff()
                    .header("golden", "deuteron")
                    .to_string();
                failures.push(format!("{}/{} differs:\n{diff}", case.display(), f.path));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} golden files differ:\n{}", failures.len(), compared, failures.join("\n"));
    assert_eq!(compared, 40);
}

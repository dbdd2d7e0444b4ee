//! Render throughput on the golden cases: parse + render of every Jinja file with its context,
//! the same work `proton_render_reference.py bench` times. Run with `scripts/bench-render.sh`,
//! which runs both side by side and prints the ratio.
//!
//! Usage: cargo bench -p deuteron-render --bench render -- [ITERATIONS]

use std::path::{Path, PathBuf};
use std::time::Instant;

use deuteron_bundle::{Bundle, BundleFiles, InfraFolder, Limits};
use deuteron_render::Renderer;
use deuteron_render::golden::GoldenContext;

fn shared() -> PathBuf {
    std::env::var_os("DEUTERON_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("golden folder") {
        let p = e.expect("entry").path();
        if p.join("context.json").exists() {
            out.push(p.join("context.json"));
        } else if p.is_dir() {
            walk(&p, out);
        }
    }
}

fn main() {
    let iterations: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(200);
    let golden = shared().join("fixtures/proton-samples/golden");
    let samples = shared().join("fixtures/proton-samples/cloudformation");
    let mut cases = Vec::new();
    walk(&golden, &mut cases);
    // (file name, template source, namespaces) for every Jinja file of every case.
    let mut jobs: Vec<(String, String, serde_json::Value)> = Vec::new();
    for c in &cases {
        let text = std::fs::read_to_string(c).expect("context");
        let ctx = GoldenContext::parse("context.json", &text).expect("context.json");
        let dir = samples.join(ctx.bundle.as_deref().expect("bundle"));
        let files = BundleFiles::load(&dir, &Limits::default()).expect("bundle");
        let bundle = Bundle::parse_detected(files).expect("bundle");
        for (folder, namespaces) in &ctx.folders {
            let folder: InfraFolder = *folder;
            for (name, text) in bundle.template_files(folder).expect("templates") {
                jobs.push((format!("{}/{name}", folder.dir()), text.to_string(), namespaces.clone()));
            }
        }
    }
    let renderer = Renderer::default();
    // Warm up once, checking every render succeeds.
    for (name, src, ctx) in &jobs {
        renderer.render_str(name, src, ctx).expect("golden cases render");
    }
    // The best of several rounds: the machine's other load only ever slows a round down.
    const ROUNDS: usize = 5;
    let mut best = f64::MAX;
    let mut bytes = 0usize;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        bytes = 0;
        for _ in 0..iterations {
            for (name, src, ctx) in &jobs {
                bytes += renderer.render_str(name, src, ctx).expect("render").len();
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let renders = jobs.len() * iterations;
    println!(
        "{renders} renders in {best:.3}s (best of {ROUNDS} rounds): {:.1} renders/s ({} cases, {} files, {:.1} MB rendered per round)",
        renders as f64 / best,
        cases.len(),
        jobs.len(),
        bytes as f64 / 1e6
    );
}

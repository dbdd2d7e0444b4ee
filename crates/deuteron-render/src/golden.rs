//! The `context.json` format of the golden cases: the bundle path and, per infrastructure folder,
//! the exact namespaces its templates see. `deuteron render --context` takes this format.

use std::collections::BTreeMap;

use serde_json::Value;

use deuteron_bundle::{Bundle, InfraFolder};

use crate::{RenderError, RenderedFile, Renderer, ResourceMeta};

/// A parsed `context.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenContext {
    /// The bundle path the case was made from, relative to the samples folder.
    pub bundle: Option<String>,
    /// Namespaces per infrastructure folder, in file order.
    pub folders: BTreeMap<InfraFolder, Value>,
}

impl GoldenContext {
    pub fn parse(file: &str, text: &str) -> Result<Self, RenderError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| RenderError::Context(format!("{file}:{}: {e}", e.line())))?;
        let ctx = doc
            .get("context")
            .and_then(Value::as_object)
            .ok_or_else(|| RenderError::Context(format!("{file}: $.context must be a mapping of infrastructure folders to namespaces")))?;
        let mut folders = BTreeMap::new();
        for (k, v) in ctx {
            let folder = InfraFolder::parse(k).ok_or_else(|| {
                RenderError::Context(format!(
                    "{file}: $.context.{k} is not infrastructure, instance_infrastructure or pipeline_infrastructure"
                ))
            })?;
            if !v.is_object() {
                return Err(RenderError::Context(format!("{file}: $.context.{k} must be a mapping of namespaces")));
            }
            folders.insert(folder, v.clone());
        }
        Ok(Self { bundle: doc.get("bundle").and_then(Value::as_str).map(str::to_string), folders })
    }

    /// Renders every folder the context names; paths are `folder/file`.
    pub fn render(&self, renderer: &Renderer, bundle: &Bundle, meta: &ResourceMeta) -> Result<Vec<RenderedFile>, RenderError> {
        let mut out = Vec::new();
        for (folder, ctx) in &self.folders {
            for f in renderer.render_folder(bundle, *folder, ctx, meta)? {
                out.push(RenderedFile { path: format!("{}/{}", folder.dir(), f.path), contents: f.contents });
            }
        }
        Ok(out)
    }
}

//! Proton-compatible rendering.
//!
//! [`Renderer`] wraps one minijinja environment configured as Proton's Jinja2 was: strict
//! undefined, trailing newlines kept, autoescape off, Proton's `proton_cfn_*` filters, and
//! Jinja2-exact `truncate`, `tojson` and value printing. Rendering is sandboxed: no loader (so no
//! `include`/`import` of files), no filesystem access, and a fuel budget bounding the work of
//! every render. [`terraform`] writes Proton's generated variable files; [`command`] writes the
//! inputs file of CodeBuild-style provisioning.

use minijinja::value::Value as JValue;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use deuteron_bundle::{Bundle, BundleError, InfraFolder, TemplateEntry};

pub mod command;
mod filters;
pub mod golden;
pub mod pyfmt;
pub mod pyyaml;
pub mod terraform;

/// Bounds on one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// minijinja fuel: roughly the number of instructions one template may execute.
    pub fuel: u64,
    /// Largest rendered output of one template.
    pub max_output_bytes: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self { fuel: 5_000_000, max_output_bytes: 8 * 1024 * 1024 }
    }
}

/// A render failed; the message names the file, the line and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template { file: String, line: Option<usize>, message: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("render context: {0}")]
    Context(String),
}

/// One output file, at a path relative to its infrastructure folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// Who the rendered files are for: used by generated Terraform files and command inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceMeta {
    /// The resource's ARN, named in the header of generated Terraform files.
    pub arn: String,
    /// `proton_tags` for Terraform (`proton:account`, `proton:template`, ...).
    pub proton_tags: serde_json::Map<String, Value>,
}

/// The configured Jinja environment. Cheap to share; rendering takes `&self`.
pub struct Renderer {
    env: Environment<'static>,
    limits: RenderLimits,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new(RenderLimits::default())
    }
}

impl Renderer {
    pub fn new(limits: RenderLimits) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).build().expect("default delimiters are valid"),
        );
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_fuel(Some(limits.fuel));
        env.set_debug(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, state, value| {
            use minijinja::value::ValueKind;
            match value.kind() {
                ValueKind::Bool | ValueKind::None | ValueKind::Seq | ValueKind::Map => {
                    let json = filters::to_json(value)?;
                    out.write_str(&pyfmt::py_str(&json)).map_err(|_| minijinja::Error::new(ErrorKind::WriteFailure, "write failed"))
                }
                ValueKind::Number if value.as_i64().is_none() => {
                    let json = filters::to_json(value)?;
                    out.write_str(&pyfmt::py_str(&json)).map_err(|_| minijinja::Error::new(ErrorKind::WriteFailure, "write failed"))
                }
                _ => minijinja::escape_formatter(out, state, value),
            }
        });
        env.add_filter("proton_cfn_sanitize", filters::proton_cfn_sanitize);
        env.add_filter("proton_cfn_ecs_task_definition_formatted_env_vars", filters::ecs_env_vars);
        env.add_filter("proton_cfn_lambda_function_formatted_env_vars", filters::lambda_env_vars);
        env.add_filter("proton_cfn_iam_policy_arns", filters::iam_policy_arns);
        env.add_filter("truncate", filters::truncate);
        env.add_filter("tojson", filters::tojson);
        Self { env, limits }
    }

    /// Compiles `source` without rendering it: what registration checks for every Jinja file.
    pub fn check(&self, file: &str, source: &str) -> Result<(), RenderError> {
        self.env.template_from_named_str(file, source).map(|_| ()).map_err(|e| self.error(file, source, e))
    }

    /// Parses and renders one template with `ctx`, a mapping of Proton namespaces.
    pub fn render_str(&self, file: &str, source: &str, ctx: &Value) -> Result<String, RenderError> {
        if !ctx.is_object() {
            return Err(RenderError::Context(format!("the context of {file} must be a mapping of namespaces")));
        }
        let out =
            self.env.render_named_str(file, source, JValue::from(minijinja::value::Serde(ctx))).map_err(|e| self.error(file, source, e))?;
        if out.len() > self.limits.max_output_bytes {
            return Err(RenderError::Template {
                file: file.into(),
                line: None,
                message: format!("rendered output is {} bytes, over the limit of {} bytes", out.len(), self.limits.max_output_bytes),
            });
        }
        Ok(out)
    }

    /// Checks every Jinja file of a bundle compiles, and that CodeBuild `project_properties`
    /// templates compile.
    pub fn check_bundle(&self, bundle: &Bundle) -> Result<(), RenderError> {
        for (folder, manifest) in &bundle.manifests {
            for entry in &manifest.templates {
                match entry {
                    TemplateEntry::CloudFormation { .. } => {}
                    TemplateEntry::Codebuild(settings) => {
                        let text = settings.project_properties.to_string();
                        self.check(&format!("{}/manifest.yaml", folder.dir()), &text)?;
                        continue;
                    }
                    TemplateEntry::Terraform { .. } => continue,
                }
            }
            if manifest.engine() == "jinja" {
                for (name, text) in bundle.template_files(*folder)? {
                    self.check(&format!("{}/{name}", folder.dir()), text)?;
                }
            }
        }
        Ok(())
    }

    /// Renders one infrastructure folder of `bundle` with `ctx` (that folder's namespaces):
    /// CloudFormation files through Jinja; Terraform files copied with Proton's generated
    /// variable files; CodeBuild folders copied with `proton-inputs.json`.
    pub fn render_folder(
        &self,
        bundle: &Bundle,
        folder: InfraFolder,
        ctx: &Value,
        meta: &ResourceMeta,
    ) -> Result<Vec<RenderedFile>, RenderError> {
        let Some(manifest) = bundle.manifests.get(&folder) else {
            return Err(RenderError::Context(format!("the bundle has no {}/ folder", folder.dir())));
        };
        match manifest.engine() {
            "jinja" => bundle
                .template_files(folder)?
                .into_iter()
                .map(|(name, text)| {
                    let out = self.render_str(&format!("{}/{name}", folder.dir()), text, ctx)?;
                    Ok(RenderedFile { path: name, contents: out.into_bytes() })
                })
                .collect(),
            "hcl" => {
                let mut files: Vec<RenderedFile> = bundle
                    .template_files(folder)?
                    .into_iter()
                    .map(|(name, text)| RenderedFile { path: name, contents: text.as_bytes().to_vec() })
                    .collect();
                files.extend(terraform::generated_files(folder, ctx, meta)?);
                Ok(files)
            }
            _ => {
                let mut files: Vec<RenderedFile> = bundle
                    .files
                    .under(folder.dir())
                    .map(|(name, data)| RenderedFile { path: name.to_string(), contents: data.to_vec() })
                    .collect();
                files.retain(|f| f.path != command::INPUTS_FILE);
                files.push(command::inputs_file(folder, ctx)?);
                Ok(files)
            }
        }
    }

    fn error(&self, file: &str, source: &str, e: minijinja::Error) -> RenderError {
        let line = e.line();
        let mut message = match e.kind() {
            ErrorKind::UndefinedError => "undefined value".to_string(),
            ErrorKind::OutOfFuel => format!("the template ran out of fuel ({} steps): it does too much work", self.limits.fuel),
            _ => e.kind().to_string(),
        };
        if let Some(detail) = e.detail() {
            message.push_str(": ");
            message.push_str(detail);
        }
        // The failing expression needs spans, kept only in debug mode: compute them again, once.
        let syntax = e.kind() == ErrorKind::SyntaxError;
        if let Some(expr) = self.failing_expression(file, source, &e).filter(|_| !syntax) {
            message.push_str(&format!(" in `{expr}`"));
        }
        RenderError::Template { file: file.into(), line, message }
    }

    fn failing_expression(&self, file: &str, source: &str, e: &minijinja::Error) -> Option<String> {
        if let Some(r) = e.range() {
            // Spans of attribute lookups start at the last `.name`: widen to the whole path.
            let bytes = source.as_bytes();
            let mut start = r.start.min(bytes.len());
            while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || b"_.[]'\"".contains(&bytes[start - 1])) {
                start -= 1;
            }
            return source.get(start..r.end).map(|s| s.trim().to_string());
        }
        let line = e.line()?;
        let text = source.lines().nth(line.checked_sub(1)?)?.trim();
        let _ = file;
        (!text.is_empty()).then(|| text.chars().take(160).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(src: &str, ctx: Value) -> Result<String, RenderError> {
        Renderer::default().render_str("t.yaml", src, &ctx)
    }

    #[test]
    fn jinja2_semantics() {
        assert_eq!(r("a: {{ x }}\n", json!({"x": true})).unwrap(), "a: True\n");
        assert_eq!(r("{{ x }}|{{ y }}|{{ z }}", json!({"x": null, "y": [1, "a"], "z": 2.0})).unwrap(), "None|[1, 'a']|2.0");
        assert_eq!(r("{% if a is defined %}yes{% else %}no{% endif %}", json!({})).unwrap(), "no");
        assert_eq!(r("{{ {'a': 'x', 'b': 'y'}[k] | tojson | safe }}", json!({"k": "b"})).unwrap(), "\"y\"");
        assert_eq!(r("{{ 'Hello'.lower() }}", json!({})).unwrap(), "hello");
        assert_eq!(r("{% for i in xs %}{{ loop.index }}{% endfor %}", json!({"xs": [5, 6]})).unwrap(), "12");
    }

    #[test]
    fn errors_name_file_line_and_cause() {
        let e = r("a: 1\nb: {{ environment.outputs.Missing }}\n", json!({"environment": {"outputs": {}}})).unwrap_err();
        assert_eq!(e.to_string(), "t.yaml:2: undefined value in `environment.outputs.Missing`");
        let e = r("a: {{ x | proton_cfn_sanitize }}", json!({"x": "bad value!"})).unwrap_err();
        assert!(e.to_string().starts_with("t.yaml:1: invalid operation: Illegal character(s) detected in \"bad value!\""), "{e}");
        let e = Renderer::default().check("t.yaml", "a\n{% if x %}\n").unwrap_err();
        assert!(e.to_string().starts_with("t.yaml:2: syntax error"), "{e}");
    }

    #[test]
    fn sandboxed() {
        let e = r("{% include 'x' %}", json!({})).unwrap_err();
        assert!(e.to_string().contains("template not found"), "{e}");
        let limited = Renderer::new(RenderLimits { fuel: 10_000, max_output_bytes: 1 << 20 });
        let e = limited.render_str("t", "{% for i in range(100000) %}{{ i }}{% endfor %}", &json!({})).unwrap_err();
        assert!(e.to_string().contains("ran out of fuel"), "{e}");
        let small = Renderer::new(RenderLimits { fuel: 1_000_000, max_output_bytes: 10 });
        assert!(small.render_str("t", "{{ 'x' * 100 }}", &json!({})).is_err());
    }
}

//! `manifest.yaml`: which files of an infrastructure folder are templates and how they are
//! rendered and provisioned.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::bundle::BundleError;
use crate::yaml;

/// Proton's limit on template files per manifest.
pub const MAX_TEMPLATES: usize = 10;

/// A parsed and checked manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub templates: Vec<TemplateEntry>,
}

/// One entry of `infrastructure.templates`.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateEntry {
    /// `rendering_engine: jinja`, `template_language: cloudformation`: one file.
    CloudFormation { file: String },
    /// `rendering_engine: hcl`, `template_language: terraform`: a file name or `*` (every `.tf`).
    Terraform { file: String },
    /// `rendering_engine: codebuild`: commands run by the command provisioner.
    Codebuild(Box<CodebuildSettings>),
}

/// The `settings` of a CodeBuild-style template entry.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct CodebuildSettings {
    pub image: Option<String>,
    pub runtimes: BTreeMap<String, serde_json::Value>,
    pub provision: Vec<String>,
    pub deprovision: Vec<String>,
    /// `env.variables`.
    pub env_variables: BTreeMap<String, String>,
    /// `env.secrets_manager` (name → secret reference); kept, resolved by the provisioner.
    pub env_secrets_manager: BTreeMap<String, String>,
    /// `project_properties`, Jinja-rendered with the input data before use.
    pub project_properties: serde_json::Value,
    /// `input_type`: `JSON` (default, `proton-inputs.json`) or `HCL`.
    pub input_type: InputFileType,
    /// Settings Deuteron does not interpret, kept so nothing a bundle says is lost.
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum InputFileType {
    #[default]
    Json,
    Hcl,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    infrastructure: RawInfrastructure,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInfrastructure {
    templates: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    file: Option<String>,
    rendering_engine: String,
    template_language: Option<String>,
    settings: Option<BTreeMap<String, serde_json::Value>>,
    input_type: Option<String>,
}

impl Manifest {
    /// Parses `text`, the contents of `file` (used in error messages).
    pub fn parse(file: &str, text: &str) -> Result<Self, BundleError> {
        let raw: RawManifest = yaml::parse(file, text)?;
        let invalid = |needle: &str, after: usize, message: String| BundleError::Invalid {
            file: file.to_string(),
            line: Some(yaml::line_of_key(text, needle, after)),
            message,
        };
        let entries = raw.infrastructure.templates;
        if entries.is_empty() {
            return Err(invalid("templates", 0, "infrastructure.templates must list at least one template".into()));
        }
        if entries.len() > MAX_TEMPLATES {
            return Err(invalid(
                "templates",
                0,
                format!("infrastructure.templates lists {} templates; at most {MAX_TEMPLATES} are allowed", entries.len()),
            ));
        }
        let mut templates = Vec::new();
        let mut after = 0;
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("infrastructure.templates[{i}]");
            after = yaml::line_of_key(text, "rendering_engine", after);
            let entry_line = after;
            let file_name = |lang: &str| -> Result<String, BundleError> {
                let f = e
                    .file
                    .clone()
                    .ok_or_else(|| invalid("rendering_engine", entry_line - 1, format!("{at}.file is required for {lang} templates")))?;
                if f.is_empty() || f.contains('/') || f.contains('\\') || f == ".." || f == "." {
                    return Err(invalid(
                        "file",
                        entry_line.saturating_sub(3),
                        format!("{at}.file {f:?} must name a file in the same folder"),
                    ));
                }
                Ok(f)
            };
            let entry = match e.rendering_engine.as_str() {
                "jinja" => {
                    match e.template_language.as_deref() {
                        Some("cloudformation") => {}
                        other => {
                            return Err(invalid(
                                "template_language",
                                entry_line.saturating_sub(3),
                                format!("{at}.template_language is {}; jinja templates must be cloudformation", shown(other)),
                            ));
                        }
                    }
                    let f = file_name("cloudformation")?;
                    if f == "*" {
                        return Err(invalid(
                            "file",
                            entry_line.saturating_sub(3),
                            format!("{at}.file \"*\" is only allowed for terraform templates"),
                        ));
                    }
                    TemplateEntry::CloudFormation { file: f }
                }
                "hcl" => {
                    match e.template_language.as_deref() {
                        Some("terraform") => {}
                        other => {
                            return Err(invalid(
                                "template_language",
                                entry_line.saturating_sub(3),
                                format!("{at}.template_language is {}; hcl templates must be terraform", shown(other)),
                            ));
                        }
                    }
                    TemplateEntry::Terraform { file: file_name("terraform")? }
                }
                "codebuild" => TemplateEntry::Codebuild(Box::new(parse_codebuild(&at, e.settings, e.input_type.as_deref(), |m| {
                    invalid("settings", entry_line.saturating_sub(3), m)
                })?)),
                other => {
                    return Err(invalid(
                        "rendering_engine",
                        entry_line - 1,
                        format!("{at}.rendering_engine {other:?} is not one of jinja, hcl, codebuild"),
                    ));
                }
            };
            templates.push(entry);
        }
        let kinds: std::collections::BTreeSet<_> = templates.iter().map(TemplateEntry::engine).collect();
        if kinds.len() > 1 {
            return Err(invalid(
                "templates",
                0,
                format!("a manifest must use one rendering engine; this one mixes {}", kinds.into_iter().collect::<Vec<_>>().join(", ")),
            ));
        }
        let cfn = templates.iter().filter(|t| matches!(t, TemplateEntry::CloudFormation { .. })).count();
        if cfn > 1 {
            return Err(invalid("templates", 0, "a CloudFormation manifest must name exactly one template file".into()));
        }
        Ok(Self { templates })
    }

    /// The rendering engine all entries share.
    pub fn engine(&self) -> &'static str {
        self.templates[0].engine()
    }
}

/// The one template of a directly defined component's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentTemplate {
    /// Jinja-rendered CloudFormation, written as `file`.
    CloudFormation { file: String },
    /// Terraform, written as `file` (`main.tf` for `*`).
    Terraform { file: String },
}

impl ComponentTemplate {
    /// Parses a component manifest (Proton's limit: 1,024 characters): exactly one CloudFormation
    /// or Terraform template; Proton never ran components through CodeBuild.
    pub fn parse(manifest: &str) -> Result<Self, BundleError> {
        const MAX: usize = 1_024;
        let fail = |message: String| BundleError::Invalid { file: "manifest".into(), line: None, message };
        if manifest.len() > MAX {
            return Err(fail(format!("{} characters; the limit is {MAX}", manifest.len())));
        }
        let parsed = Manifest::parse("manifest", manifest)?;
        if parsed.templates.len() != 1 {
            return Err(fail(format!("infrastructure.templates has {} entries; a component has exactly one", parsed.templates.len())));
        }
        match &parsed.templates[0] {
            TemplateEntry::CloudFormation { file } => Ok(Self::CloudFormation { file: file.clone() }),
            TemplateEntry::Terraform { file } if file == "*" => Ok(Self::Terraform { file: "main.tf".into() }),
            TemplateEntry::Terraform { file } => Ok(Self::Terraform { file: file.clone() }),
            TemplateEntry::Codebuild(_) => Err(fail(
                "infrastructure.templates[0].rendering_engine: components use jinja (CloudFormation) or hcl (Terraform); \
                 codebuild provisioning is not available for components"
                    .into(),
            )),
        }
    }

    pub fn file(&self) -> &str {
        match self {
            Self::CloudFormation { file } | Self::Terraform { file } => file,
        }
    }
}

impl TemplateEntry {
    pub fn engine(&self) -> &'static str {
        match self {
            TemplateEntry::CloudFormation { .. } => "jinja",
            TemplateEntry::Terraform { .. } => "hcl",
            TemplateEntry::Codebuild(_) => "codebuild",
        }
    }
}

fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
}

fn parse_codebuild(
    at: &str,
    settings: Option<BTreeMap<String, serde_json::Value>>,
    input_type: Option<&str>,
    invalid: impl Fn(String) -> BundleError,
) -> Result<CodebuildSettings, BundleError> {
    let mut settings = settings.ok_or_else(|| invalid(format!("{at}.settings is required for codebuild templates")))?;
    let commands = |settings: &mut BTreeMap<String, serde_json::Value>, key: &str| -> Result<Vec<String>, BundleError> {
        match settings.remove(key) {
            None => Err(invalid(format!("{at}.settings.{key} is required: the commands to run"))),
            Some(serde_json::Value::Array(items)) if !items.is_empty() => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(invalid(format!("{at}.settings.{key}[{i}] must be a string command, got {other}"))),
                })
                .collect(),
            Some(other) => Err(invalid(format!("{at}.settings.{key} must be a non-empty list of commands, got {other}"))),
        }
    };
    let provision = commands(&mut settings, "provision")?;
    let deprovision = commands(&mut settings, "deprovision")?;
    let image = match settings.remove("image") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => {
            return Err(invalid(format!("{at}.settings.image must be a string, got {other}")));
        }
    };
    let runtimes = match settings.remove("runtimes") {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        Some(serde_json::Value::Object(m)) => m.into_iter().collect(),
        Some(other) => {
            return Err(invalid(format!("{at}.settings.runtimes must be a map of runtime to version, got {other}")));
        }
    };
    let string_map = |v: Option<&serde_json::Value>, key: &str| -> Result<BTreeMap<String, String>, BundleError> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(BTreeMap::new()),
            Some(serde_json::Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                    serde_json::Value::Number(n) => Ok((k.clone(), n.to_string())),
                    serde_json::Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    other => Err(invalid(format!("{at}.settings.env.{key}.{k} must be a string, got {other}"))),
                })
                .collect(),
            Some(other) => Err(invalid(format!("{at}.settings.env.{key} must be a map, got {other}"))),
        }
    };
    let (env_variables, env_secrets_manager) = match settings.remove("env") {
        None | Some(serde_json::Value::Null) => (BTreeMap::new(), BTreeMap::new()),
        Some(serde_json::Value::Object(env)) => {
            if let Some(unknown) = env.keys().find(|k| *k != "variables" && *k != "secrets_manager") {
                return Err(invalid(format!("{at}.settings.env.{unknown} is not one of variables, secrets_manager")));
            }
            (string_map(env.get("variables"), "variables")?, string_map(env.get("secrets_manager"), "secrets_manager")?)
        }
        Some(other) => {
            return Err(invalid(format!("{at}.settings.env must be a map, got {other}")));
        }
    };
    let project_properties = settings.remove("project_properties").unwrap_or(serde_json::Value::Null);
    if !(project_properties.is_null() || project_properties.is_object()) {
        return Err(invalid(format!("{at}.settings.project_properties must be a map, got {project_properties}")));
    }
    let input_type = match input_type {
        None | Some("JSON") => InputFileType::Json,
        Some("HCL") => InputFileType::Hcl,
        Some(other) => {
            return Err(invalid(format!("{at}.input_type {other:?} is not one of JSON, HCL")));
        }
    };
    Ok(CodebuildSettings {
        image,
        runtimes,
        provision,
        deprovision,
        env_variables,
        env_secrets_manager,
        project_properties,
        input_type,
        other: settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_three_kinds() {
        let cfn = Manifest::parse(
            "m",
            "infrastructure:\n  templates:\n    - file: \"cloudformation.yaml\"\n      rendering_engine: jinja\n      template_language: cloudformation\n",
        )
        .unwrap();
        assert_eq!(cfn.templates, vec![TemplateEntry::CloudFormation { file: "cloudformation.yaml".into() }]);
        let tf = Manifest::parse(
            "m",
            "infrastructure:\n  templates:\n    - file: \"*\"\n      rendering_engine: hcl\n      template_language: terraform\n",
        )
        .unwrap();
        assert_eq!(tf.engine(), "hcl");
        let cb = Manifest::parse(
            "m",
            r#"infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0
        runtimes:
          nodejs: 16
        env:
          variables:
            STAGE: dev
        provision:
          - npm install
          - npm run deploy
        deprovision:
          - npm run destroy
        project_properties:
          TimeoutInMinutes: 30
"#,
        )
        .unwrap();
        let TemplateEntry::Codebuild(s) = &cb.templates[0] else { panic!() };
        assert_eq!(s.provision, vec!["npm install", "npm run deploy"]);
        assert_eq!(s.env_variables["STAGE"], "dev");
        assert_eq!(s.runtimes["nodejs"], serde_json::json!(16));
        assert_eq!(s.project_properties["TimeoutInMinutes"], serde_json::json!(30));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = Manifest::parse(
            "instance_infrastructure/manifest.yaml",
            "infrastructure:\n  templates:\n    - file: x.yaml\n      rendering_engine: mustache\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance_infrastructure/manifest.yaml:4: infrastructure.templates[0].rendering_engine \"mustache\" is not one of jinja, hcl, codebuild"
        );
        let err = Manifest::parse(
            "m.yaml",
            "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision: []\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("settings.provision must be a non-empty list"), "{err}");
        let err = Manifest::parse("m.yaml", "infrastructure:\n  templates:\n  - file: [\n").unwrap_err();
        assert!(err.to_string().starts_with("m.yaml:"), "{err}");
        let err = Manifest::parse("m.yaml", "infrastructure:\n  template: []\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `template`"), "{err}");
    }
}

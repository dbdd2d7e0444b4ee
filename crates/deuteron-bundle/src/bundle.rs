//! A whole bundle: its files, schema and manifests, with Proton's layout rules checked.

use std::collections::BTreeMap;
use std::fmt;

use deuteron_core::{CompatibleEnvironmentTemplate, ComponentSource, Provisioning, TemplateKind};

use crate::archive::BundleFiles;
use crate::manifest::{Manifest, TemplateEntry};
use crate::schema::{InputKind, TemplateSchema};
use crate::yaml;

/// Proton's limits on manifest and schema files.
pub const MAX_MANIFEST_BYTES: usize = 50 * 1024;

/// Everything that can be wrong with a bundle. Each variant names the file (and line) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
    #[error("refused {path:?}: {reason}")]
    Hostile { path: String, reason: String },
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("the bundle holds more than {limit} files")]
    TooManyFiles { limit: usize },
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid { file: String, line: Option<usize>, message: String },
    #[error("bundle layout: {0}")]
    Layout(String),
}

/// The fixed infrastructure folders of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InfraFolder {
    /// `infrastructure/` of an environment bundle.
    Infrastructure,
    /// `instance_infrastructure/` of a service bundle.
    InstanceInfrastructure,
    /// `pipeline_infrastructure/` of a service bundle.
    PipelineInfrastructure,
}

impl InfraFolder {
    pub const ALL: [InfraFolder; 3] =
        [InfraFolder::Infrastructure, InfraFolder::InstanceInfrastructure, InfraFolder::PipelineInfrastructure];

    pub fn dir(self) -> &'static str {
        match self {
            InfraFolder::Infrastructure => "infrastructure",
            InfraFolder::InstanceInfrastructure => "instance_infrastructure",
            InfraFolder::PipelineInfrastructure => "pipeline_infrastructure",
        }
    }

    pub fn parse(dir: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.dir() == dir)
    }

    /// The schema input type whose values this folder's templates see.
    pub fn input_kind(self) -> InputKind {
        match self {
            InfraFolder::Infrastructure => InputKind::Environment,
            InfraFolder::InstanceInfrastructure => InputKind::ServiceInstance,
            InfraFolder::PipelineInfrastructure => InputKind::Pipeline,
        }
    }
}

impl fmt::Display for InfraFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir())
    }
}

/// A bundle whose layout, manifests and schema are valid.
#[derive(Debug)]
pub struct Bundle {
    pub files: BundleFiles,
    pub kind: TemplateKind,
    pub schema: TemplateSchema,
    pub manifests: BTreeMap<InfraFolder, Manifest>,
    /// From `.compatible-envs` or `.template-registration.yaml`, when the bundle carries them.
    pub compatible_environments: Vec<CompatibleEnvironmentTemplate>,
    pub supported_component_sources: Vec<ComponentSource>,
}

impl Bundle {
    /// The kind of template a bundle is for, told by its schema's input types.
    pub fn detect_kind(files: &BundleFiles) -> Result<TemplateKind, BundleError> {
        let schema = read_schema(files)?;
        Ok(if schema.has(InputKind::Environment) { TemplateKind::Environment } else { TemplateKind::Service })
    }

    /// Parses a bundle whose template is not known (offline rendering): the kind comes from the
    /// schema, the provisioning from whether the infrastructure / pipeline folder exists.
    pub fn parse_detected(files: BundleFiles) -> Result<Self, BundleError> {
        let kind = Self::detect_kind(&files)?;
        let folder = match kind {
            TemplateKind::Environment => InfraFolder::Infrastructure,
            TemplateKind::Service => InfraFolder::PipelineInfrastructure,
        };
        let provisioning = if files.has_dir(folder.dir()) { Provisioning::Standard } else { Provisioning::CustomerManaged };
        Self::parse(files, kind, provisioning)
    }

    /// Checks the layout Proton required for a template of `kind` with `provisioning`.
    pub fn parse(files: BundleFiles, kind: TemplateKind, provisioning: Provisioning) -> Result<Self, BundleError> {
        let schema = read_schema(&files)?;
        let layout = |m: String| Err(BundleError::Layout(m));
        let mut manifests = BTreeMap::new();
        let schema_file = "schema/schema.yaml";
        let type_err = |key: &str, m: &str| BundleError::Invalid {
            file: schema_file.into(),
            line: Some(yaml::line_of_key(schema.text(), key, 0)),
            message: m.to_string(),
        };
        match kind {
            TemplateKind::Environment => {
                if !schema.has(InputKind::Environment) {
                    return Err(type_err("schema", "an environment template's schema needs environment_input_type"));
                }
                for k in [InputKind::ServiceInstance, InputKind::Pipeline] {
                    if schema.has(k) {
                        return Err(type_err(k.schema_key(), &format!("an environment template's schema must not set {}", k.schema_key())));
                    }
                }
                for f in [InfraFolder::InstanceInfrastructure, InfraFolder::PipelineInfrastructure] {
                    if files.has_dir(f.dir()) {
                        return layout(format!("{}/ belongs in service template bundles, not environment bundles", f.dir()));
                    }
                }
                match provisioning {
                    Provisioning::CustomerManaged => {
                        if files.has_dir("infrastructure") {
                            return layout(
                                "a CUSTOMER_MANAGED environment template holds only schema/schema.yaml; remove infrastructure/".into(),
                            );
                        }
                    }
                    Provisioning::Standard => {
                        manifests.insert(InfraFolder::Infrastructure, read_manifest(&files, InfraFolder::Infrastructure)?);
                    }
                }
            }
            TemplateKind::Service => {
                if !schema.has(InputKind::ServiceInstance) {
                    return Err(type_err("schema", "a service template's schema needs service_input_type"));
                }
                if schema.has(InputKind::Environment) {
                    return Err(type_err("environment_input_type", "a service template's schema must not set environment_input_type"));
                }
                if files.has_dir("infrastructure") {
                    return layout("infrastructure/ belongs in environment bundles; service bundles use instance_infrastructure/ and pipeline_infrastructure/".into());
                }
                manifests.insert(InfraFolder::InstanceInfrastructure, read_manifest(&files, InfraFolder::InstanceInfrastructure)?);
                let has_pipeline = files.has_dir(InfraFolder::PipelineInfrastructure.dir());
                match (provisioning, has_pipeline) {
                    (Provisioning::Standard, true) => {
                        manifests.insert(InfraFolder::PipelineInfrastructure, read_manifest(&files, InfraFolder::PipelineInfrastructure)?);
                    }
                    (Provisioning::Standard, false) => {
                        return layout("pipeline_infrastructure/ is missing; a service template without a pipeline is created with pipeline provisioning CUSTOMER_MANAGED".into());
                    }
                    (Provisioning::CustomerManaged, true) => {
                        return layout("pipeline_infrastructure/ is present but the template's pipeline provisioning is CUSTOMER_MANAGED (no pipeline)".into());
                    }
                    (Provisioning::CustomerManaged, false) => {}
                }
                if schema.has(InputKind::Pipeline) && !manifests.contains_key(&InfraFolder::PipelineInfrastructure) {
                    return Err(type_err(
                        "pipeline_input_type",
                        "schema sets pipeline_input_type but the bundle has no pipeline_infrastructure/",
                    ));
                }
            }
        }
        let (compatible_environments, supported_component_sources) = read_registration(&files)?;
        Ok(Self { files, kind, schema, manifests, compatible_environments, supported_component_sources })
    }

    /// The template files of a folder as `(file name, text)`, `*` expanded to every `.tf` file.
    pub fn template_files(&self, folder: InfraFolder) -> Result<Vec<(String, &str)>, BundleError> {
        let Some(manifest) = self.manifests.get(&folder) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in &manifest.templates {
            match entry {
                TemplateEntry::CloudFormation { file } => out.push((file.clone(), self.text(folder, file)?)),
                TemplateEntry::Terraform { file } if file == "*" => {
                    for (name, _) in self.files.under(folder.dir()) {
                        if name.ends_with(".tf") && !name.contains('/') {
                            out.push((name.to_string(), self.text(folder, name)?));
                        }
                    }
                }
                TemplateEntry::Terraform { file } => out.push((file.clone(), self.text(folder, file)?)),
                TemplateEntry::Codebuild(_) => {}
            }
        }
        Ok(out)
    }

    fn text(&self, folder: InfraFolder, name: &str) -> Result<&str, BundleError> {
        let path = format!("{}/{name}", folder.dir());
        self.files.text(&path)?.ok_or(BundleError::Invalid {
            file: format!("{}/manifest.yaml", folder.dir()),
            line: None,
            message: format!("names template file {name:?}, which is not in the bundle"),
        })
    }
}

fn read_schema(files: &BundleFiles) -> Result<TemplateSchema, BundleError> {
    let file = "schema/schema.yaml";
    let text = files.text(file)?.ok_or_else(|| BundleError::Layout("schema/schema.yaml is missing".into()))?;
    TemplateSchema::parse(file, text)
}

fn read_manifest(files: &BundleFiles, folder: InfraFolder) -> Result<Manifest, BundleError> {
    let file = format!("{}/manifest.yaml", folder.dir());
    let text = files.text(&file)?.ok_or_else(|| BundleError::Layout(format!("{file} is missing")))?;
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(BundleError::TooLarge { what: file, size: text.len() as u64, limit: MAX_MANIFEST_BYTES as u64 });
    }
    let manifest = Manifest::parse(&file, text)?;
    let mut tf_count = 0;
    for entry in &manifest.templates {
        match entry {
            TemplateEntry::CloudFormation { file: f } | TemplateEntry::Terraform { file: f } if f != "*" => {
                let path = format!("{}/{f}", folder.dir());
                if !files.contains(&path) {
                    return Err(BundleError::Invalid {
                        file: file.clone(),
                        line: Some(yaml::line_of_key(text, "file", 0)),
                        message: format!("names template file {f:?}, but {path} is not in the bundle"),
                    });
                }
            }
            TemplateEntry::Terraform { .. } => {
                tf_count = files.under(folder.dir()).filter(|(n, _)| n.ends_with(".tf") && !n.contains('/')).count();
                if tf_count == 0 {
                    return Err(BundleError::Invalid {
                        file: file.clone(),
                        line: Some(yaml::line_of_key(text, "file", 0)),
                        message: format!("file \"*\" matches no .tf file in {}/", folder.dir()),
                    });
                }
            }
            _ => {}
        }
    }
    if tf_count > crate::manifest::MAX_TEMPLATES {
        return Err(BundleError::Invalid {
            file,
            line: None,
            message: format!(
                "file \"*\" matches {tf_count} .tf files; at most {} template files are allowed",
                crate::manifest::MAX_TEMPLATES
            ),
        });
    }
    Ok(manifest)
}

/// `.template-registration.yaml` (template sync) or legacy `.compatible-envs`.
fn read_registration(files: &BundleFiles) -> Result<(Vec<CompatibleEnvironmentTemplate>, Vec<ComponentSource>), BundleError> {
    if let Some(text) = files.text(".template-registration.yaml")? {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Reg {
            compatible_environments: Vec<String>,
            #[serde(default)]
            supported_component_sources: Vec<String>,
        }
        let file = ".template-registration.yaml";
        let reg: Reg = yaml::parse(file, text)?;
        let compat = reg
            .compatible_environments
            .iter()
            .map(|c| {
                CompatibleEnvironmentTemplate::parse(c).map_err(|m| BundleError::Invalid {
                    file: file.into(),
                    line: Some(yaml::line_of_key(text, "compatible_environments", 0)),
                    message: m,
                })
            })
            .collect::<Result<_, _>>()?;
        let sources = reg
            .supported_component_sources
            .iter()
            .map(|s| {
                ComponentSource::parse(s).ok_or_else(|| BundleError::Invalid {
                    file: file.into(),
                    line: Some(yaml::line_of_key(text, "supported_component_sources", 0)),
                    message: format!("supported component source {s:?} is not DIRECTLY_DEFINED"),
                })
            })
            .collect::<Result<_, _>>()?;
        return Ok((compat, sources));
    }
    if let Some(text) = files.text(".compatible-envs")? {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            out.push(CompatibleEnvironmentTemplate::parse(line).map_err(|m| BundleError::Invalid {
                file: ".compatible-envs".into(),
                line: Some(i + 1),
                message: m,
            })?);
        }
        return Ok((out, Vec::new()));
    }
    Ok((Vec::new(), Vec::new()))
}

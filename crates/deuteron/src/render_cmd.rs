//! `deuteron render`: render a bundle offline from a spec or a context.json.

use std::path::Path;

use serde_json::{Map, Value, json};

use deuteron_bundle::{Bundle, BundleFiles, InfraFolder, Limits, SpecFile};
use deuteron_render::golden::GoldenContext;
use deuteron_render::{RenderedFile, Renderer, ResourceMeta};

use crate::cli::{Output, RenderArgs};
use crate::exit::Failure;

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::invalid(format!("cannot read {}: {e}", path.display())))
}

pub fn run(output: Output, limits: &Limits, args: RenderArgs) -> Result<(), Failure> {
    let files =
        BundleFiles::load(&args.bundle, limits).map_err(|e| Failure::invalid(format!("invalid bundle {}: {e}", args.bundle.display())))?;
    let bundle = Bundle::parse_detected(files).map_err(|e| Failure::invalid(format!("invalid bundle {}: {e}", args.bundle.display())))?;
    let renderer = Renderer::default();
    let rendered = match (&args.context, &args.spec) {
        (Some(ctx_path), _) => {
            let ctx =
                GoldenContext::parse(&ctx_path.display().to_string(), &read(ctx_path)?).map_err(|e| Failure::invalid(e.to_string()))?;
            for folder in ctx.folders.keys() {
                if !bundle.manifests.contains_key(folder) {
                    return Err(Failure::invalid(format!(
                        "{}: names {}, which the bundle does not have",
                        ctx_path.display(),
                        folder.dir()
                    )));
                }
            }
            ctx.render(&renderer, &bundle, &ResourceMeta::default()).map_err(|e| Failure::invalid(e.to_string()))?
        }
        (None, Some(spec_path)) => render_spec(&renderer, &bundle, &args, spec_path)?,
        (None, None) => unreachable!("clap requires --spec or --context"),
    };
    let mut written = Vec::new();
    for f in &rendered {
        let path = args.out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Failure::internal(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, &f.contents).map_err(|e| Failure::internal(format!("cannot write {}: {e}", path.display())))?;
        written.push(path.display().to_string());
    }
    match output {
        Output::Json => println!("{}", json!({"files": written})),
        Output::Table => {
            for w in &written {
                println!("{w}");
            }
        }
    }
    Ok(())
}

fn render_spec(renderer: &Renderer, bundle: &Bundle, args: &RenderArgs, spec_path: &Path) -> Result<Vec<RenderedFile>, Failure> {
    let file = spec_path.display().to_string();
    let spec = SpecFile::parse(&file, &read(spec_path)?).map_err(|e| Failure::invalid(e.to_string()))?;
    let invalid = |errors: Vec<deuteron_bundle::InputError>| {
        Failure::invalid(format!("{file}: the spec does not satisfy the bundle's schema"))
            .with_details(deuteron_service::Detail::inputs(&errors))
    };
    let env_outputs: Map<String, Value> = match &args.environment_outputs {
        Some(p) => serde_json::from_str::<Value>(&read(p)?)
            .map_err(|e| Failure::invalid(format!("{}: {e}", p.display())))?
            .as_object()
            .cloned()
            .ok_or_else(|| Failure::invalid(format!("{}: must map environment names to outputs", p.display())))?,
        None => Map::new(),
    };
    let render = |folder: InfraFolder, prefix: &str, ctx: Value| -> Result<Vec<RenderedFile>, Failure> {
        Ok(renderer
            .render_folder(bundle, folder, &ctx, &ResourceMeta::default())
            .map_err(|e| Failure::invalid(e.to_string()))?
            .into_iter()
            .map(|f| RenderedFile { path: format!("{prefix}{}/{}", folder.dir(), f.path), contents: f.contents })
            .collect())
    };
    match spec {
        SpecFile::Environment(env) => {
            if bundle.kind != deuteron_core::TemplateKind::Environment {
                return Err(Failure::invalid(format!("{file} is an EnvironmentSpec but the bundle is a service template")));
            }
            let inputs = env.validate(&bundle.schema).map_err(invalid)?;
            if !bundle.manifests.contains_key(&InfraFolder::Infrastructure) {
                return Ok(Vec::new());
            }
            let name = args.name.clone().unwrap_or_else(|| "environment".into());
            render(InfraFolder::Infrastructure, "", json!({"environment": {"name": name, "inputs": inputs}}))
        }
        SpecFile::Service(svc) => {
            if bundle.kind != deuteron_core::TemplateKind::Service {
                return Err(Failure::invalid(format!("{file} is a ServiceSpec but the bundle is an environment template")));
            }
            let (pipeline, instances) = svc.validate(&bundle.schema).map_err(invalid)?;
            let name = args.name.clone().unwrap_or_else(|| "service".into());
            let has_pipeline = bundle.manifests.contains_key(&InfraFolder::PipelineInfrastructure);
            let service = if has_pipeline {
                json!({"name": name, "branch_name": "main", "repository_connection_arn": "", "repository_id": ""})
            } else {
                json!({"name": name})
            };
            let mut out = Vec::new();
            let mut loop_items = Vec::new();
            for (inst, inputs) in svc.instances.iter().zip(instances) {
                let environment = json!({
                    "name": inst.environment,
                    "account_id": args.account_id,
                    "outputs": env_outputs.get(&inst.environment).cloned().unwrap_or_else(|| json!({})),
                });
                // Proton renders a whole-object reference to an absent component as empty.
                let instance = json!({"name": inst.name, "inputs": inputs, "outputs": {}, "components": {"default": {"outputs": {}}}, "environment": environment});
                out.extend(render(
                    InfraFolder::InstanceInfrastructure,
                    &format!("instance-{}/", inst.name),
                    json!({"environment": environment, "service": service, "service_instance": instance}),
                )?);
                loop_items.push(instance);
            }
            if has_pipeline {
                let ctx = json!({"service": service, "pipeline": {"inputs": pipeline.unwrap_or_else(|| json!({}))}, "service_instances": loop_items});
                out.extend(render(InfraFolder::PipelineInfrastructure, "pipeline/", ctx)?);
            }
            Ok(out)
        }
    }
}

//! Resource and deployment commands over the REST API.

use super::*;

pub(super) async fn env(r: &Remote, output: Output, cmd: EnvCommand) -> Result<(), Failure> {
    let show_env = |v: &Value| -> Result<(), Failure> {
        crate::resource_cmd::show_env(output, &view(v, "environment")?);
        Ok(())
    };
    match cmd {
        EnvCommand::Create { name, template, major, minor, spec, description, role_arn, wait } => {
            let body = json!({"name": name, "templateName": template, "majorVersion": major, "minorVersion": minor,
                "spec": read("spec", &spec)?, "description": description, "roleArn": role_arn});
            let created = r.json(Method::POST, "/api/v1/environments", body).await?;
            if wait.wait {
                r.wait(&[s(&created, "deploymentId")], &wait, output).await?;
            }
            show_env(&r.get(&format!("/api/v1/environments/{}", enc(&name))).await?)?;
        }
        EnvCommand::List { filter } => {
            let v = r.get(&format!("/api/v1/environments{}", query(&filter_query(&filter)))).await?;
            list(output, &v, &["NAME", "TEMPLATE", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], |e| {
                vec![s(e, "name"), s(e, "templateName"), version(e), s(e, "templateVersionStatus"), s(e, "deploymentStatus")]
            });
        }
        EnvCommand::Show { name } => {
            let env = view(&r.get(&format!("/api/v1/environments/{}", enc(&name))).await?, "environment")?;
            let outputs: Vec<deuteron_service::views::OutputView> =
                view(&r.get(&format!("/api/v1/environments/{}/outputs", enc(&name))).await?, "outputs")?;
            crate::resource_cmd::show_env_and_outputs(output, &env, outputs.into_iter().map(|o| (o.key, o.value_string)).collect());
        }
        EnvCommand::Update { name, description, update: u } => {
            let mut body = update_body(&u, "spec")?;
            body["description"] = json!(description);
            let changed = r.json(Method::PATCH, &format!("/api/v1/environments/{}", enc(&name)), body).await?;
            if let (Some(id), true) = (changed["deploymentId"].as_str(), u.wait.wait) {
                r.wait(&[id.to_string()], &u.wait, output).await?;
            }
            show_env(&r.get(&format!("/api/v1/environments/{}", enc(&name))).await?)?;
        }
        EnvCommand::Delete { name, wait } => {
            let d = r.send(Method::DELETE, &format!("/api/v1/environments/{}", enc(&name)), "application/json", Vec::new()).await?;
            if wait.wait {
                r.wait(&[s(&d, "id")], &wait, output).await?;
            }
            show(output, &d, &[("deployment", s(&d, "id")), ("status", s(&d, "deploymentStatus"))]);
        }
        EnvCommand::Outputs { name } => outputs(output, &r.get(&format!("/api/v1/environments/{}/outputs", enc(&name))).await?),
    }
    Ok(())
}

pub(super) fn outputs(output: Output, v: &Value) {
    list(output, v, &["KEY", "VALUE"], |o| vec![s(o, "key"), s(o, "valueString")]);
}

pub(super) async fn service(r: &Remote, output: Output, cmd: ServiceCommand) -> Result<(), Failure> {
    let show_service = |v: &Value| -> Result<(), Failure> {
        crate::resource_cmd::show_service(output, &view(v, "service")?);
        Ok(())
    };
    // Waits until the service leaves its *_IN_PROGRESS status (or is gone, when deleting).
    match cmd {
        ServiceCommand::Create {
            name,
            template,
            major,
            minor,
            spec,
            description,
            repository_connection_arn,
            repository_id,
            branch_name,
            wait,
        } => {
            let body = json!({"name": name, "templateName": template, "majorVersion": major, "minorVersion": minor,
                "spec": read("spec", &spec)?, "description": description, "repositoryConnectionArn": repository_connection_arn,
                "repositoryId": repository_id, "branchName": branch_name});
            let mut v = r.json(Method::POST, "/api/v1/services", body).await?;
            if wait.wait {
                v = r.settle(&name, &wait, false, output).await?.unwrap_or(v);
            }
            show_service(&v)?;
        }
        ServiceCommand::List => {
            let v = r.get("/api/v1/services").await?;
            list(output, &v, &["NAME", "TEMPLATE", "STATUS"], |x| vec![s(x, "name"), s(x, "templateName"), s(x, "status")]);
        }
        ServiceCommand::Show { name } => {
            let service = view(&r.get(&format!("/api/v1/services/{}", enc(&name))).await?, "service")?;
            let instances: Vec<deuteron_service::views::InstanceView> =
                view(&r.get(&format!("/api/v1/instances?service={}", enc(&name))).await?, "instance list")?;
            let pipeline = match r.get(&format!("/api/v1/services/{}/pipeline", enc(&name))).await {
                Ok(p) => Some(view(&p, "pipeline")?),
                Err(f) if f.code == NOT_FOUND => None,
                Err(f) => return Err(f),
            };
            crate::resource_cmd::show_service_and_parts(output, &service, &instances, pipeline.as_ref());
        }
        ServiceCommand::Update { name, description, spec, wait } => {
            let spec = spec.as_deref().map(|p| read("spec", p)).transpose()?;
            let mut v = r
                .json(Method::PATCH, &format!("/api/v1/services/{}", enc(&name)), json!({"description": description, "spec": spec}))
                .await?;
            if wait.wait {
                v = r.settle(&name, &wait, false, output).await?.unwrap_or(v);
            }
            show_service(&v)?;
        }
        ServiceCommand::Delete { name, wait } => {
            let deps = r.send(Method::DELETE, &format!("/api/v1/services/{}", enc(&name)), "application/json", Vec::new()).await?;
            if wait.wait {
                r.settle(&name, &wait, true, output).await?;
            }
            list(output, &deps, &["ID", "TARGET", "STATUS"], |d| vec![s(d, "id"), s(d, "target"), s(d, "deploymentStatus")]);
        }
    }
    Ok(())
}

pub(super) async fn instance(r: &Remote, output: Output, cmd: InstanceCommand) -> Result<(), Failure> {
    let path = |service: &str, name: &str| format!("/api/v1/services/{}/instances/{}", enc(service), enc(name));
    let show_instance = |v: &Value| show(output, v, &resource_fields(v, format!("{}/{}", s(v, "serviceName"), s(v, "name"))));
    match cmd {
        InstanceCommand::List { service, environment, filter } => {
            let mut q = vec![("service", service), ("environment", environment)];
            q.extend(filter_query(&filter));
            let v = r.get(&format!("/api/v1/instances{}", query(&q))).await?;
            list(output, &v, &["SERVICE", "NAME", "ENVIRONMENT", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], |i| {
                vec![
                    s(i, "serviceName"),
                    s(i, "name"),
                    s(i, "environmentName"),
                    version(i),
                    s(i, "templateVersionStatus"),
                    s(i, "deploymentStatus"),
                ]
            });
        }
        InstanceCommand::Show { service, name } => show_instance(&r.get(&path(&service, &name)).await?),
        InstanceCommand::Update { service, name, update: u } => {
            let changed = r.json(Method::PATCH, &path(&service, &name), update_body(&u, "spec")?).await?;
            if let (Some(id), true) = (changed["deploymentId"].as_str(), u.wait.wait) {
                r.wait(&[id.to_string()], &u.wait, output).await?;
            }
            show_instance(&r.get(&path(&service, &name)).await?);
        }
        InstanceCommand::Outputs { service, name } => outputs(output, &r.get(&format!("{}/outputs", path(&service, &name))).await?),
    }
    Ok(())
}

pub(super) async fn pipeline(r: &Remote, output: Output, cmd: PipelineCommand) -> Result<(), Failure> {
    let show_pipeline = |v: &Value| show(output, v, &resource_fields(v, s(v, "serviceName")));
    match cmd {
        PipelineCommand::List { filter } => {
            let v = r.get(&format!("/api/v1/pipelines{}", query(&filter_query(&filter)))).await?;
            list(output, &v, &["SERVICE", "TEMPLATE", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], |p| {
                vec![s(p, "serviceName"), s(p, "templateName"), version(p), s(p, "templateVersionStatus"), s(p, "deploymentStatus")]
            });
        }
        PipelineCommand::Show { service } => show_pipeline(&r.get(&format!("/api/v1/services/{}/pipeline", enc(&service))).await?),
        PipelineCommand::Update { service, update: u } => {
            let path = format!("/api/v1/services/{}/pipeline", enc(&service));
            let before = r.get(&path).await?;
            let after = r.json(Method::PATCH, &path, update_body(&u, "spec")?).await?;
            let id = s(&after, "lastAttemptedDeploymentId");
            if u.wait.wait && id != s(&before, "lastAttemptedDeploymentId") {
                r.wait(&[id], &u.wait, output).await?;
            }
            show_pipeline(&r.get(&path).await?);
        }
        PipelineCommand::Outputs { service } => {
            outputs(output, &r.get(&format!("/api/v1/services/{}/pipeline/outputs", enc(&service))).await?)
        }
    }
    Ok(())
}

pub(super) async fn component(r: &Remote, output: Output, cmd: ComponentCommand) -> Result<(), Failure> {
    let path = |name: &str| format!("/api/v1/components/{}", enc(name));
    let show_component = |v: &Value| {
        show(
            output,
            v,
            &[
                ("name", s(v, "name")),
                ("environment", s(v, "environmentName")),
                ("attached to", format!("{}/{}", s(v, "serviceName"), s(v, "serviceInstanceName"))),
                ("status", s(v, "deploymentStatus")),
                ("status message", s(v, "deploymentStatusMessage")),
            ],
        )
    };
    match cmd {
        ComponentCommand::Create { name, environment, template_file, manifest, attach, description, wait } => {
            let body = json!({"name": name, "environmentName": environment, "serviceName": attach.service,
                "serviceInstanceName": attach.instance,
                "serviceSpec": attach.service_spec.as_deref().map(|p| read("service spec", p)).transpose()?,
                "templateFile": read("template file", &template_file)?, "manifest": read("manifest", &manifest)?,
                "description": description});
            let created = r.json(Method::POST, "/api/v1/components", body).await?;
            if wait.wait {
                r.wait(&[s(&created, "deploymentId")], &wait, output).await?;
            }
            show_component(&r.get(&path(&name)).await?);
        }
        ComponentCommand::List { environment, service, instance } => {
            let v = r
                .get(&format!("/api/v1/components{}", query(&[("environment", environment), ("service", service), ("instance", instance)])))
                .await?;
            list(output, &v, &["NAME", "ENVIRONMENT", "SERVICE", "INSTANCE", "STATUS"], |c| {
                vec![s(c, "name"), s(c, "environmentName"), s(c, "serviceName"), s(c, "serviceInstanceName"), s(c, "deploymentStatus")]
            });
        }
        ComponentCommand::Show { name } => show_component(&r.get(&path(&name)).await?),
        ComponentCommand::Update { name, description, template_file, manifest, attach, detach, redeploy, wait } => {
            let (service, instance) = if detach { (Some(String::new()), Some(String::new())) } else { (attach.service, attach.instance) };
            let mut body = json!({"description": description, "serviceName": service, "serviceInstanceName": instance,
                "serviceSpec": attach.service_spec.as_deref().map(|p| read("service spec", p)).transpose()?,
                "templateFile": template_file.as_deref().map(|p| read("template file", p)).transpose()?,
                "manifest": manifest.as_deref().map(|p| read("manifest", p)).transpose()?});
            if redeploy {
                body["deploymentType"] = json!("CURRENT_VERSION");
            }
            let changed = r.json(Method::PATCH, &path(&name), body).await?;
            if let (Some(id), true) = (changed["deploymentId"].as_str(), wait.wait) {
                r.wait(&[id.to_string()], &wait, output).await?;
            }
            show_component(&r.get(&path(&name)).await?);
        }
        ComponentCommand::Delete { name, wait } => {
            let d = r.send(Method::DELETE, &path(&name), "application/json", Vec::new()).await?;
            if wait.wait {
                r.wait(&[s(&d, "id")], &wait, output).await?;
            }
            show(output, &d, &[("deployment", s(&d, "id")), ("status", s(&d, "deploymentStatus"))]);
        }
        ComponentCommand::Outputs { name } => outputs(output, &r.get(&format!("{}/outputs", path(&name))).await?),
    }
    Ok(())
}

pub(super) async fn deployment(r: &Remote, output: Output, cmd: DeploymentCommand) -> Result<(), Failure> {
    let show_deployment = |d: &Value| -> Result<(), Failure> {
        crate::resource_cmd::show_deployment(output, &view(d, "deployment")?);
        Ok(())
    };
    match cmd {
        DeploymentCommand::List { environment, service, limit } => {
            let v = r
                .get(&format!(
                    "/api/v1/deployments{}",
                    query(&[("environment", environment), ("service", service), ("limit", Some(limit.to_string()))])
                ))
                .await?;
            crate::resource_cmd::print_deployments(output, &view::<Vec<deuteron_service::views::DeploymentView>>(&v, "deployment list")?);
        }
        DeploymentCommand::Show { id } => show_deployment(&r.get(&format!("/api/v1/deployments/{}", enc(&id))).await?)?,
        DeploymentCommand::Logs { id, latest, follow } => {
            let id = match (id, latest) {
                (_, Some(resource)) => {
                    let v = r.get(&format!("/api/v1/deployments?resource={}&limit=1", enc(&resource))).await?;
                    v[0]["id"].as_str().map(str::to_string).ok_or_else(|| Failure {
                        code: NOT_FOUND,
                        kind: "NotFound",
                        message: format!("no deployment of {resource}"),
                        details: Vec::new(),
                    })?
                }
                (Some(id), None) => id,
                (None, None) => return Err(Failure::invalid("give a deployment id or --latest RESOURCE")),
            };
            let mut after = 0;
            loop {
                let log = r.get(&format!("/api/v1/deployments/{}/log?after={after}", enc(&id))).await?;
                let lines: Vec<deuteron_service::views::LogLineView> = view(&log["lines"], "deployment log")?;
                for l in &lines {
                    crate::resource_cmd::print_log_line(output, l);
                    after = l.seq;
                }
                let d = r.get(&format!("/api/v1/deployments/{}", enc(&id))).await?;
                if !follow || !["IN_PROGRESS", "DELETE_IN_PROGRESS", "CANCELLING"].contains(&s(&d, "deploymentStatus").as_str()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        DeploymentCommand::Cancel { id, wait } => {
            let d = r.send(Method::POST, &format!("/api/v1/deployments/{}/cancel", enc(&id)), "application/json", Vec::new()).await?;
            if wait.wait {
                // A cancelled deployment ends CANCELLED: that is what was asked for.
                let _ = r.wait(std::slice::from_ref(&id), &wait, output).await;
            }
            show_deployment(&r.get(&format!("/api/v1/deployments/{}", enc(&id))).await.unwrap_or(d))?;
        }
    }
    Ok(())
}

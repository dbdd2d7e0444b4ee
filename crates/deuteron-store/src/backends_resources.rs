// Resource and deployment methods of both backends, expanded inside `store_impl!`.

/// Row decoding and transactional helpers for resources, as inherent methods of a store.
macro_rules! resource_helpers {
    ($store:ty, $claim_lock:literal) => {
        impl $store {
            fn deploy_fields<R: Row>(row: &R) -> Result<DeploymentFields>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let status: String = row.try_get("deployment_status")?;
                Ok(DeploymentFields {
                    status: DeploymentStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("deployment status {status:?}")))?,
                    status_message: row.try_get("deployment_status_message")?,
                    last_attempted_deployment_id: row.try_get("last_attempted_deployment_id")?,
                    last_succeeded_deployment_id: row.try_get("last_succeeded_deployment_id")?,
                    last_attempted_at: row.try_get("last_deployment_attempted_at")?,
                    last_succeeded_at: row.try_get("last_deployment_succeeded_at")?,
                })
            }

            fn env_from_row<R: Row>(row: &R) -> Result<EnvironmentRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let prov: String = row.try_get("provisioning")?;
                Ok(EnvironmentRecord {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    template_name: row.try_get("template_name")?,
                    version: VersionNumber::new(version_part(row.try_get("template_major")?)?, version_part(row.try_get("template_minor")?)?),
                    spec: row.try_get("spec")?,
                    inputs: row.try_get("inputs")?,
                    provisioning: Provisioning::parse(&prov).ok_or_else(|| StoreError::Corrupt(format!("provisioning {prov:?}")))?,
                    role_arn: row.try_get("role_arn")?,
                    codebuild_role_arn: row.try_get("codebuild_role_arn")?,
                    component_role_arn: row.try_get("component_role_arn")?,
                    deployment: Self::deploy_fields(row)?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn service_from_row<R: Row>(row: &R) -> Result<ServiceRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let status: String = row.try_get("status")?;
                Ok(ServiceRecord {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    template_name: row.try_get("template_name")?,
                    spec: row.try_get("spec")?,
                    status: ServiceStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("service status {status:?}")))?,
                    status_message: row.try_get("status_message")?,
                    repository_connection_arn: row.try_get("repository_connection_arn")?,
                    repository_id: row.try_get("repository_id")?,
                    branch_name: row.try_get("branch_name")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            /// The WHERE clause of an instance query and its text binds (`$1`...). Only the
            /// filters given reach the SQL, so the planner walks the primary key (service_name,
            /// name) from the cursor, or seeks the one service asked for.
            fn instance_conditions(q: &InstanceQuery) -> (String, Vec<String>) {
                let mut binds: Vec<String> = Vec::new();
                let mut conds: Vec<String> = Vec::new();
                let mut cond = |column: &str, value: &Option<String>, binds: &mut Vec<String>| {
                    if let Some(v) = value {
                        binds.push(v.clone());
                        conds.push(format!("{column} = ${}", binds.len()));
                    }
                };
                cond("service_name", &q.service, &mut binds);
                cond("environment_name", &q.environment, &mut binds);
                cond("template_name", &q.template, &mut binds);
                cond("deployment_status", &q.deployment_status, &mut binds);
                cond("name", &q.name, &mut binds);
                if let Some(versions) = &q.versions {
                    if versions.is_empty() {
                        conds.push("1 = 0".to_string());
                    } else {
                        let mut list = Vec::new();
                        for (template, v) in versions {
                            binds.push(template.clone());
                            list.push(format!("(${}, {}, {})", binds.len(), v.major, v.minor));
                        }
                        conds.push(format!("(template_name, template_major, template_minor) IN ({})", list.join(", ")));
                    }
                }
                if let Some((service, name)) = &q.after {
                    binds.push(service.clone());
                    binds.push(name.clone());
                    conds.push(format!("(service_name, name) > (${}, ${})", binds.len() - 1, binds.len()));
                }
                let wh = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
                (wh, binds)
            }

            fn instance_from_row<R: Row>(row: &R) -> Result<InstanceRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                Ok(InstanceRecord {
                    service_name: row.try_get("service_name")?,
                    name: row.try_get("name")?,
                    environment_name: row.try_get("environment_name")?,
                    template_name: row.try_get("template_name")?,
                    version: VersionNumber::new(version_part(row.try_get("template_major")?)?, version_part(row.try_get("template_minor")?)?),
                    spec: row.try_get("spec")?,
                    inputs: row.try_get("inputs")?,
                    deployment: Self::deploy_fields(row)?,
                    last_client_request_token: row.try_get("last_client_request_token")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn pipeline_from_row<R: Row>(row: &R) -> Result<PipelineRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                Ok(PipelineRecord {
                    service_name: row.try_get("service_name")?,
                    template_name: row.try_get("template_name")?,
                    version: VersionNumber::new(version_part(row.try_get("template_major")?)?, version_part(row.try_get("template_minor")?)?),
                    spec: row.try_get("spec")?,
                    inputs: row.try_get("inputs")?,
                    deployment: Self::deploy_fields(row)?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn component_from_row<R: Row>(row: &R) -> Result<ComponentRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                Ok(ComponentRecord {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    environment_name: row.try_get("environment_name")?,
                    service_name: row.try_get("service_name")?,
                    service_instance_name: row.try_get("service_instance_name")?,
                    service_spec: row.try_get("service_spec")?,
                    template_file: row.try_get("template_file")?,
                    manifest: row.try_get("manifest")?,
                    last_client_request_token: row.try_get("last_client_request_token")?,
                    deployment: Self::deploy_fields(row)?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn key_from_row<R: Row>(row: &R) -> Result<AccessKeyRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let role: String = row.try_get("role")?;
                Ok(AccessKeyRecord {
                    id: row.try_get("id")?,
                    secret_sealed: row.try_get("secret_sealed")?,
                    role: deuteron_core::Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
                    description: row.try_get("description")?,
                    created_at: row.try_get("created_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                    deployment_id: row.try_get("deployment_id")?,
                    expires_at: row.try_get("expires_at")?,
                })
            }

            fn repo_from_row<R: Row>(row: &R) -> Result<RepositoryRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                Ok(RepositoryRecord {
                    provider: row.try_get("provider")?,
                    name: row.try_get("name")?,
                    connection_arn: row.try_get("connection_arn")?,
                    encryption_key: row.try_get("encryption_key")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn deployment_from_row<R: Row>(row: &R) -> Result<DeploymentRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let tt: String = row.try_get("target_type")?;
                let key: String = row.try_get("target_key")?;
                let target_type = TargetType::parse(&tt).ok_or_else(|| StoreError::Corrupt(format!("target type {tt:?}")))?;
                let target = Target::from_parts(target_type, &key).ok_or_else(|| StoreError::Corrupt(format!("target {tt} {key:?}")))?;
                let action: String = row.try_get("action")?;
                let status: String = row.try_get("status")?;
                let job: String = row.try_get("job_state")?;
                let state = |col: &str| -> Result<Option<ResourceState>> {
                    let text: Option<String> = row.try_get(col)?;
                    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))).transpose()
                };
                Ok(DeploymentRecord {
                    id: row.try_get("id")?,
                    target,
                    environment_name: row.try_get("environment_name")?,
                    action: DeploymentAction::parse(&action).ok_or_else(|| StoreError::Corrupt(format!("action {action:?}")))?,
                    status: DeploymentStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?,
                    status_message: row.try_get("status_message")?,
                    initial_state: state("initial_state")?,
                    target_state: state("target_state")?.ok_or_else(|| StoreError::Corrupt("target_state missing".into()))?,
                    job_state: JobState::parse(&job).ok_or_else(|| StoreError::Corrupt(format!("job state {job:?}")))?,
                    lease_owner: row.try_get("lease_owner")?,
                    lease_expires_at: row.try_get("lease_expires_at")?,
                    attempts: row.try_get("attempts")?,
                    cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
                    created_at: row.try_get("created_at")?,
                    started_at: row.try_get("started_at")?,
                    completed_at: row.try_get("completed_at")?,
                    rollout_item: Self::rollout_link(row)?,
                })
            }

            /// Inserts a deployment (of a rollout's item when `link` is given; claimed when the
            /// link says for whom, else queued) and returns it.
            async fn insert_deployment<'e, E>(exec: E, d: &NewDeployment, status: DeploymentStatus, now: i64, link: Option<&RolloutLink>) -> Result<DeploymentRecord>
            where
                E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
            {
                let (sql, args) = Self::insert_deployment_statement(d, status, now, link);
                let q = bound_query(sql, &args);
                let row = q.fetch_one(exec).await.map_err(|e| map_unique(e, || Self::in_progress(d)))?;
                Self::deployment_from_row(&row)
            }

            fn in_progress(d: &NewDeployment) -> String {
                format!("{} has a deployment in progress; wait for it to finish or cancel it", d.target)
            }

            /// The statement inserting a deployment and returning its row: queued, or claimed
            /// by the worker the link names (running, leased, first attempt started now).
            fn insert_deployment_statement(d: &NewDeployment, status: DeploymentStatus, now: i64, link: Option<&RolloutLink>) -> (String, Vec<Arg>) {
                let (service, instance, component) = d.target.names(&d.target_state);
                let json = |s: &ResourceState| serde_json::to_string(s).expect("states serialise");
                let claim = link.and_then(|l| l.claimed_by.as_ref());
                let sql = "INSERT INTO deployments (id, target_type, target_key, environment_name, service_name, service_instance_name,
                         component_name, action, status, initial_state, target_state, job_state, created_at, updated_at, rollout_id, rollout_seq,
                         lease_owner, lease_expires_at, attempts, started_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17, $18, $19) RETURNING *";
                let args = vec![
                    (&d.id).into(),
                    d.target.target_type().as_str().into(),
                    d.target.key().into(),
                    (&d.environment_name).into(),
                    service.into(),
                    instance.into(),
                    component.into(),
                    d.action.as_str().into(),
                    status.as_str().into(),
                    Arg::OptText(d.initial_state.as_ref().map(json)),
                    json(&d.target_state).into(),
                    if claim.is_some() { "RUNNING" } else { "QUEUED" }.into(),
                    now.into(),
                    link.map(|l| l.rollout_id.as_str()).into(),
                    link.map(|l| i64::from(l.seq)).into(),
                    claim.map(|c| c.worker.as_str()).into(),
                    claim.map(|c| now + c.lease_ms).into(),
                    i64::from(claim.is_some()).into(),
                    claim.map(|_| now).into(),
                ];
                (sql.to_string(), args)
            }

            async fn insert_instances(tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>, instances: &[NewInstance], now: i64) -> Result<()> {
                for i in instances {
                    sqlx::query(
                        "INSERT INTO service_instances (service_name, name, environment_name, template_name, template_major, template_minor,
                             spec, inputs, deployment_status, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'IN_PROGRESS', $9, $9)",
                    )
                    .bind(&i.service_name)
                    .bind(&i.name)
                    .bind(&i.environment_name)
                    .bind(&i.template_name)
                    .bind(i64::from(i.version.major))
                    .bind(i64::from(i.version.minor))
                    .bind(&i.spec)
                    .bind(&i.inputs)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| map_unique(e, || format!("service instance {}/{} already exists", i.service_name, i.name)))?;
                    let key = format!("{}/{}", i.service_name, i.name);
                    Self::event(&mut **tx, "SERVICE_INSTANCE", &key, None, "IN_PROGRESS", None, None, now).await?;
                }
                Ok(())
            }

            /// Appends `(stream, line)` pairs to a deployment's log after its last line (in the
            /// caller's transaction).
            async fn insert_log<'a>(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                id: &str,
                lines: impl Iterator<Item = (&'a str, &'a str)>,
                now: i64,
            ) -> Result<()> {
                let mut batch = Batch::default();
                Self::log_statements(&mut batch, id, lines, now);
                Self::run_batch(tx, batch).await.map(drop)
            }

            /// Statements appending log lines after the deployment's last one, 200 lines a
            /// statement. Each chunk first moves the deployment's line counter (`log_seq`) and then
            /// numbers its lines from the moved counter: on PostgreSQL the counter's row stays locked
            /// until the transaction ends, on SQLite the writer is held, so two writers can never
            /// number lines from the same point.
            fn log_statements<'a>(batch: &mut Batch, id: &str, lines: impl Iterator<Item = (&'a str, &'a str)>, now: i64) {
                let lines: Vec<(&str, &str)> = lines.collect();
                for chunk in lines.chunks(200) {
                    let n = chunk.len();
                    batch.push(format!("UPDATE deployments SET log_seq = log_seq + {n} WHERE id = $1"), vec![id.into()]);
                    // VALUES columns are named column1.. on both databases; the row numbers are
                    // generated here, the text is bound.
                    let rows: Vec<String> = (0..n).map(|i| format!("({}, ${}, ${})", i + 1, 3 + 2 * i, 4 + 2 * i)).collect();
                    let sql = format!(
                        "INSERT INTO deployment_logs (deployment_id, seq, at, stream, line)
                         SELECT $1, d.log_seq - {n} + v.column1, $2, v.column2, v.column3
                           FROM deployments d, (VALUES {}) AS v
                          WHERE d.id = $1",
                        rows.join(", ")
                    );
                    let mut args: Vec<Arg> = vec![id.into(), now.into()];
                    for (stream, line) in chunk {
                        args.push((*stream).into());
                        args.push((*line).into());
                    }
                    batch.push(sql, args);
                }
            }

            /// Runs `batch` in `tx`: in one call to the connection on SQLite, statement by
            /// statement on PostgreSQL. Returns the rows all statements affected; a guarded
            /// statement that changes nothing fails it with `Conflict` (the caller's transaction
            /// then ends without its changes).
            async fn run_batch(tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>, batch: Batch) -> Result<u64> {
                if batch.statements.is_empty() {
                    return Ok(0);
                }
                let guard_failed = || StoreError::Conflict("a guarded statement of a batch changed nothing".into());
                let mut affected = 0;
                if Self::ONE_CALL_BATCHES {
                    let (sql, args) = batch.joined();
                    let q = bound_query(sql, args);
                    affected += match q.execute(&mut **tx).await {
                        Ok(r) => r.rows_affected(),
                        Err(e) if is_guard_failure(&e) => return Err(guard_failed()),
                        Err(e) => return Err(e.into()),
                    };
                } else {
                    for s in &batch.statements {
                        let q = bound_query(s.sql.clone(), &s.args);
                        let n = q.execute(&mut **tx).await?.rows_affected();
                        if s.guarded && n == 0 {
                            return Err(guard_failed());
                        }
                        affected += n;
                    }
                }
                Ok(affected)
            }

            /// The statements finishing deployment `d` as `finish` says, if `worker` holds it:
            /// the guarded status change first, returning the row and its service's status.
            fn finish_batch(d: &DeploymentRecord, worker: &str, finish: &Finish, now: i64) -> Result<Batch> {
                let id = d.id.as_str();
                // Only the worker holding the lease finishes a running deployment (guarded).
                let mut batch = Batch::default();
                batch.push_returning(
                    "UPDATE deployments SET status = $1, status_message = $2, job_state = 'DONE', lease_owner = NULL, lease_expires_at = NULL,
                            completed_at = $3, updated_at = $3 WHERE id = $4 AND job_state = 'RUNNING' AND lease_owner = $5
                      RETURNING *, (SELECT s.status FROM services s WHERE s.name = deployments.service_name) AS service_status",
                    vec![finish.status.as_str().into(), (&finish.status_message).into(), now.into(), id.into(), worker.into()],
                );
                if let Some((rollout, seq)) = &d.rollout_item {
                    Self::rollout_finish_statements(&mut batch, rollout, *seq, id, finish.status);
                }
                let (table, wh, binds) = Self::target_row(&d.target);
                let n = binds.len();
                let row_args = || -> Vec<Arg> { binds.iter().map(|b| Arg::Text(b.clone())).collect() };
                let (tt, key) = (d.target.target_type().as_str(), d.target.key());
                let succeeded = matches!(finish.status, DeploymentStatus::Succeeded | DeploymentStatus::DeleteComplete);
                let status = if d.action == DeploymentAction::Deprovision && succeeded { "DELETED" } else { finish.status.as_str() };
                Self::target_event_statement(&mut batch, &d.target, status, id, finish.status_message.as_deref(), now);
                match (d.action, succeeded) {
                    (DeploymentAction::Deprovision, true) => {
                        batch.push(format!("DELETE FROM {table} WHERE {wh}"), row_args());
                        batch.push("DELETE FROM resource_outputs WHERE target_type = $1 AND target_key = $2", vec![tt.into(), (&key).into()]);
                        Self::resources_statements(&mut batch, tt, &key, Some(&[]));
                    }
                    (DeploymentAction::Provision, true) if matches!(d.target, Target::Component(_)) => {
                        // A component's fields are written when it is created or updated.
                        batch.push(
                            "UPDATE components SET deployment_status = 'SUCCEEDED', deployment_status_message = NULL,
                                    last_succeeded_deployment_id = $1, last_deployment_succeeded_at = $2, updated_at = $2 WHERE name = $3",
                            vec![id.into(), now.into(), (&key).into()],
                        );
                        Self::outputs_statements(&mut batch, tt, &key, id, finish.outputs.as_deref());
                        Self::resources_statements(&mut batch, tt, &key, finish.resources.as_deref());
                    }
                    (DeploymentAction::Provision, true) => {
                        let t = &d.target_state;
                        let sql = format!(
                            "UPDATE {table} SET template_major = ${a}, template_minor = ${b}, spec = ${c}, inputs = ${d}, deployment_status = 'SUCCEEDED',
                                    deployment_status_message = NULL, last_succeeded_deployment_id = ${e}, last_deployment_succeeded_at = ${f}, updated_at = ${f}
                              WHERE {wh}",
                            a = n + 1, b = n + 2, c = n + 3, d = n + 4, e = n + 5, f = n + 6
                        );
                        let major: i64 = t.template_major_version.parse().map_err(|_| StoreError::Corrupt("target major".into()))?;
                        let minor: i64 = t.template_minor_version.parse().map_err(|_| StoreError::Corrupt("target minor".into()))?;
                        let mut args = row_args();
                        args.extend([major.into(), minor.into(), (&t.spec).into(), t.inputs.to_string().into(), id.into(), now.into()]);
                        batch.push(sql, args);
                        Self::outputs_statements(&mut batch, tt, &key, id, finish.outputs.as_deref());
                        Self::resources_statements(&mut batch, tt, &key, finish.resources.as_deref());
                    }
                    (_, false) => {
                        let sql = format!(
                            "UPDATE {table} SET deployment_status = ${}, deployment_status_message = ${}, updated_at = ${} WHERE {wh}",
                            n + 1, n + 2, n + 3
                        );
                        let mut args = row_args();
                        args.extend([finish.status.as_str().into(), (&finish.status_message).into(), now.into()]);
                        batch.push(sql, args);
                    }
                }
                Self::log_statements(&mut batch, id, finish.log.iter().map(|(s, l)| (s.as_str(), l.as_str())), now);
                // The deployment's access keys (of every attempt) end with it.
                batch.push(
                    "UPDATE access_keys SET revoked_at = $1 WHERE deployment_id = $2 AND revoked_at IS NULL",
                    vec![now.into(), id.into()],
                );
                Ok(batch)
            }

            /// Records a status change (in the caller's transaction).
            #[allow(clippy::too_many_arguments)]
            async fn event<'e, E>(
                exec: E,
                resource_type: &str,
                resource: &str,
                previous: Option<&str>,
                status: &str,
                deployment_id: Option<&str>,
                message: Option<&str>,
                now: i64,
            ) -> Result<()>
            where
                E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
            {
                sqlx::query(
                    "INSERT INTO events (at, resource_type, resource, previous_status, status, deployment_id, message)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(now)
                .bind(resource_type)
                .bind(resource)
                .bind(previous)
                .bind(status)
                .bind(deployment_id)
                .bind(message)
                .execute(exec)
                .await?;
                Ok(())
            }

            /// Records a change of `target` to `status`, reading its previous status in the same
            /// statement (in the caller's transaction, before the row is updated).
            async fn target_event(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                target: &Target,
                status: &str,
                deployment_id: &str,
                message: Option<&str>,
                now: i64,
            ) -> Result<()> {
                let mut batch = Batch::default();
                Self::target_event_statement(&mut batch, target, status, deployment_id, message, now);
                Self::run_batch(tx, batch).await.map(drop)
            }

            /// The statement of [`Self::target_event`], for a batch.
            fn target_event_statement(batch: &mut Batch, target: &Target, status: &str, deployment_id: &str, message: Option<&str>, now: i64) {
                let (table, wh, binds) = Self::target_row(target);
                let n = binds.len();
                let sql = format!(
                    "INSERT INTO events (at, resource_type, resource, previous_status, status, deployment_id, message)
                     SELECT ${}, ${}, ${}, deployment_status, ${}, ${}, ${} FROM {table} WHERE {wh} AND deployment_status <> ${}",
                    n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 4
                );
                let mut args: Vec<Arg> = binds.into_iter().map(Arg::Text).collect();
                args.extend([now.into(), target.target_type().as_str().into(), target.key().into(), status.into(), deployment_id.into(), message.into()]);
                batch.push(sql, args);
            }

            /// Statements replacing a resource's outputs with `outputs` (when given) and the
            /// outputs the deployment reported through the API (given outputs win on a clash).
            fn outputs_statements(batch: &mut Batch, target_type: &str, key: &str, id: &str, outputs: Option<&[(String, String)]>) {
                let Some(outputs) = outputs else { return };
                batch.push("DELETE FROM resource_outputs WHERE target_type = $1 AND target_key = $2", vec![target_type.into(), key.into()]);
                // One statement per 200 outputs; the reported ones join the last, where keys
                // already given are left out. (`WHERE true`: SQLite's parser needs it before an
                // upsert clause on INSERT ... SELECT.)
                let chunks: Vec<&[(String, String)]> = if outputs.is_empty() { vec![&[]] } else { outputs.chunks(200).collect() };
                for (n, chunk) in chunks.iter().enumerate() {
                    let given: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 4 + 2 * i, 5 + 2 * i)).collect();
                    let mut parts = Vec::new();
                    if !given.is_empty() {
                        parts.push(format!("SELECT v.column1 AS key, v.column2 AS value FROM (VALUES {}) AS v", given.join(", ")));
                    }
                    if n + 1 == chunks.len() {
                        let keys: Vec<String> = (0..chunk.len()).map(|i| format!("${}", 4 + 2 * i)).collect();
                        let not_given = if keys.is_empty() { String::new() } else { format!(" AND key NOT IN ({})", keys.join(", ")) };
                        parts.push(format!(
                            "SELECT key, value FROM deployment_outputs WHERE deployment_id = $3{not_given}
                               AND key NOT IN (SELECT key FROM resource_outputs WHERE target_type = $1 AND target_key = $2)"
                        ));
                    }
                    let sql = format!(
                        "INSERT INTO resource_outputs (target_type, target_key, key, value, deployment_id)
                         SELECT $1, $2, o.key, o.value, $3 FROM ({}) AS o WHERE true
                         ON CONFLICT (target_type, target_key, key) DO NOTHING",
                        parts.join(" UNION ALL ")
                    );
                    let mut args: Vec<Arg> = vec![target_type.into(), key.into(), id.into()];
                    for (k, v) in *chunk {
                        args.push(k.into());
                        args.push(v.into());
                    }
                    batch.push(sql, args);
                }
            }

            /// Statements replacing a resource's provisioned-resource list (when given).
            fn resources_statements(batch: &mut Batch, target_type: &str, key: &str, resources: Option<&[ProvisionedResource]>) {
                let Some(resources) = resources else { return };
                batch.push("DELETE FROM provisioned_resources WHERE target_type = $1 AND target_key = $2", vec![target_type.into(), key.into()]);
                for r in resources {
                    batch.push(
                        "INSERT INTO provisioned_resources (target_type, target_key, name, identifier, engine) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT DO NOTHING",
                        vec![target_type.into(), key.into(), (&r.name).into(), (&r.identifier).into(), (&r.engine).into()],
                    );
                }
            }

            /// `(table, where clause with $1.., binds)` selecting a target's row.
            fn target_row(target: &Target) -> (&'static str, &'static str, Vec<String>) {
                match target {
                    Target::Environment(n) => ("environments", "name = $1", vec![n.clone()]),
                    Target::ServiceInstance { service, instance } => {
                        ("service_instances", "service_name = $1 AND name = $2", vec![service.clone(), instance.clone()])
                    }
                    Target::ServicePipeline(s) => ("service_pipelines", "service_name = $1", vec![s.clone()]),
                    Target::Component(n) => ("components", "name = $1", vec![n.clone()]),
                }
            }

            /// Marks a target's deployment fields for a newly enqueued deployment, recording the
            /// status change; 0 when the target does not exist (its event is written only if it does).
            async fn mark_attempt(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                target: &Target,
                id: &str,
                status: DeploymentStatus,
                now: i64,
            ) -> Result<u64> {
                let mut batch = Batch::default();
                Self::mark_attempt_statements(&mut batch, target, id, status, now);
                Self::run_batch(tx, batch).await
            }

            /// The statements of [`Self::mark_attempt`].
            fn mark_attempt_statements(batch: &mut Batch, target: &Target, id: &str, status: DeploymentStatus, now: i64) {
                Self::target_event_statement(batch, target, status.as_str(), id, None, now);
                let (table, wh, binds) = Self::target_row(target);
                let n = binds.len();
                let sql = format!(
                    "UPDATE {table} SET deployment_status = ${}, deployment_status_message = NULL, last_attempted_deployment_id = ${},
                            last_deployment_attempted_at = ${}, updated_at = ${} WHERE {wh}",
                    n + 1, n + 2, n + 3, n + 3
                );
                let mut args: Vec<Arg> = binds.into_iter().map(Arg::Text).collect();
                args.extend([status.as_str().into(), id.into(), now.into()]);
                batch.push(sql, args);
            }

            /// Leases the oldest claimable deployment (`$1` now, `$2` worker, `$3` lease end) and
            /// returns it: one statement, atomic on its own (SKIP LOCKED on PostgreSQL, the
            /// single writer connection on SQLite).
            const CLAIM_UPDATE_SQL: &'static str = concat!(
                "UPDATE deployments SET job_state = 'RUNNING', lease_owner = $2, lease_expires_at = $3, attempts = attempts + 1,
                        started_at = COALESCE(started_at, $1), updated_at = $1
                  WHERE id = (SELECT id FROM deployments WHERE ",
                claimable_deployments!(),
                " ORDER BY created_at, id LIMIT 1 ",
                $claim_lock,
                ") RETURNING *"
            );

            /// Finishes `d` (see [`Self::finish_batch`]) and, with `claim` (a lease length),
            /// claims the next deployment for `worker` in the same write.
            async fn finish_then_claim(&self, d: &DeploymentRecord, worker: &str, finish: &Finish, claim: Option<i64>) -> Result<Finished> {
                // What a finish writes follows from the deployment's fixed fields; the write is
                // one batch (one call on SQLite), guarded by the lease.
                let id = d.id.as_str();
                let written = self
                    .write_batch(|now| {
                        let mut batch = Self::finish_batch(d, worker, finish, now)?;
                        if let Some(lease_ms) = claim {
                            batch.push_returning_any(Self::CLAIM_UPDATE_SQL, vec![now.into(), worker.into(), (now + lease_ms).into()]);
                        }
                        Ok(batch)
                    })
                    .await?;
                if let Some(rows) = written {
                    let row = rows.first().ok_or_else(|| StoreError::Corrupt(format!("finishing {id} returned no row")))?;
                    let service_status = match row.try_get::<Option<String>, _>("service_status")? {
                        Some(s) => Some(ServiceStatus::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("service status {s:?}")))?),
                        None => None,
                    };
                    return Ok(Finished {
                        deployment: Self::deployment_from_row(row)?,
                        service_status,
                        next: rows.get(1).map(Self::deployment_from_row).transpose()?,
                    });
                }
                Err(match sqlx::query("SELECT id FROM deployments WHERE id = $1").bind(id).fetch_optional(&mut *self.read_conn().await?).await? {
                    Some(_) => StoreError::Conflict(format!("worker {worker} no longer holds deployment {id}")),
                    None => StoreError::NotFound(format!("deployment {id}")),
                })
            }
        }
    };
}


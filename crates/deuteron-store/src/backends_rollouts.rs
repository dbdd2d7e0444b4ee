// Rollout methods of both backends: `rollout_helpers!` adds decoders and SQL as inherent items,
// `rollout_methods!` expands to the `Store` methods inside `store_impl!`.

macro_rules! rollout_helpers {
    ($store:ty, $claim_lock:literal) => {
        impl $store {
            const ROLLOUT_CLAIM_SQL: &'static str = concat!(
                "SELECT id FROM rollouts WHERE status IN ('RUNNING', 'ROLLING_BACK') AND not_before <= $1
                   AND (lease_expires_at IS NULL OR lease_expires_at < $1)
                 ORDER BY not_before, created_at LIMIT 1 ",
                $claim_lock
            );

            fn rollout_from_row<R: Row>(row: &R) -> Result<RolloutRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let status: String = row.try_get("status")?;
                Ok(RolloutRecord {
                    id: row.try_get("id")?,
                    template_kind: kind_of(&row.try_get::<String, _>("template_kind")?)?,
                    template_name: row.try_get("template_name")?,
                    target: VersionNumber::new(version_part(row.try_get("target_major")?)?, version_part(row.try_get("target_minor")?)?),
                    policy: row.try_get("policy")?,
                    selection: row.try_get("selection")?,
                    transform: row.try_get("transform")?,
                    status: RolloutStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("rollout status {status:?}")))?,
                    status_message: row.try_get("status_message")?,
                    current_wave: version_part(row.try_get("current_wave")?)?,
                    wave_count: version_part(row.try_get("wave_count")?)?,
                    approved_wave: row.try_get::<Option<i64>, _>("approved_wave")?.map(version_part).transpose()?,
                    not_before: row.try_get("not_before")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            }

            fn rollout_item_from_row<R: Row>(row: &R) -> Result<RolloutItemRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let tt: String = row.try_get("target_type")?;
                let key: String = row.try_get("target_key")?;
                let target = TargetType::parse(&tt)
                    .and_then(|t| Target::from_parts(t, &key))
                    .ok_or_else(|| StoreError::Corrupt(format!("rollout item target {tt} {key:?}")))?;
                let dep = |prefix: &str| -> Result<Option<ItemDeployment>> {
                    let id: Option<String> = row.try_get(format!("{prefix}_id").as_str())?;
                    let Some(id) = id else { return Ok(None) };
                    let status: Option<String> = row.try_get(format!("{prefix}_status").as_str())?;
                    let status = status.unwrap_or_default();
                    Ok(Some(ItemDeployment {
                        id,
                        status: DeploymentStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("deployment status {status:?}")))?,
                        started_at: row.try_get(format!("{prefix}_started_at").as_str())?,
                        completed_at: row.try_get(format!("{prefix}_completed_at").as_str())?,
                    }))
                };
                let v = |a: &str, b: &str| -> Result<VersionNumber> {
                    Ok(VersionNumber::new(version_part(row.try_get(a)?)?, version_part(row.try_get(b)?)?))
                };
                Ok(RolloutItemRecord {
                    seq: version_part(row.try_get("seq")?)?,
                    wave: row.try_get::<Option<i64>, _>("wave")?.map(version_part).transpose()?,
                    target,
                    environment_name: row.try_get("environment_name")?,
                    from: v("from_major", "from_minor")?,
                    to: v("to_major", "to_minor")?,
                    from_spec: row.try_get("from_spec")?,
                    to_spec: row.try_get("to_spec")?,
                    skip_reason: row.try_get("skip_reason")?,
                    rollback_error: row.try_get("rollback_error")?,
                    deployment: dep("dep")?,
                    rollback: dep("rb")?,
                })
            }
        }
    };
}

macro_rules! rollout_methods {
    ($store:ty, $begin_write:literal) => {
        impl $store {
        async fn db_create_rollout(&self, r: &NewRollout) -> Result<RolloutRecord> {
            let mut tx = self.writer().begin_with($begin_write).await?;
            // Read the clock once the write lock is held, so timestamps follow commit order.
            let now = now_millis();
            sqlx::query(
                "INSERT INTO rollouts (id, template_kind, template_name, target_major, target_minor, policy, selection, transform, status,
                     status_message, current_wave, wave_count, not_before, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13, $13)",
            )
            .bind(&r.id)
            .bind(r.template_kind.as_str())
            .bind(&r.template_name)
            .bind(i64::from(r.target.major))
            .bind(i64::from(r.target.minor))
            .bind(&r.policy)
            .bind(&r.selection)
            .bind(&r.transform)
            .bind(r.status.as_str())
            .bind(&r.status_message)
            .bind(i64::from(r.current_wave))
            .bind(i64::from(r.wave_count))
            .bind(now)
            .bind(&r.created_by)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_unique(e, || format!("rollout {} already exists", r.id)))?;
            for i in &r.items {
                sqlx::query(
                    "INSERT INTO rollout_items (rollout_id, seq, wave, target_type, target_key, environment_name, from_major, from_minor,
                         to_major, to_minor, from_spec, to_spec, skip_reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&r.id)
                .bind(i64::from(i.seq))
                .bind(i.wave.map(i64::from))
                .bind(i.target.target_type().as_str())
                .bind(i.target.key())
                .bind(&i.environment_name)
                .bind(i64::from(i.from.major))
                .bind(i64::from(i.from.minor))
                .bind(i64::from(i.to.major))
                .bind(i64::from(i.to.minor))
                .bind(&i.from_spec)
                .bind(&i.to_spec)
                .bind(&i.skip_reason)
                .execute(&mut *tx)
                .await?;
            }
            Self::event(&mut *tx, "ROLLOUT", &r.id, None, r.status.as_str(), None, r.status_message.as_deref(), now).await?;
            tx.commit().await?;
            self.db_get_rollout(&r.id).await
        }

        async fn db_get_rollout(&self, id: &str) -> Result<RolloutRecord> {
            let row = sqlx::query("SELECT * FROM rollouts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("rollout {id}")))?;
            Self::rollout_from_row(&row)
        }

        async fn db_list_rollouts(&self, limit: i64) -> Result<Vec<RolloutRecord>> {
            let rows = sqlx::query("SELECT * FROM rollouts ORDER BY created_at DESC, id DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?;
            rows.iter().map(Self::rollout_from_row).collect()
        }

        async fn db_rollout_items(&self, id: &str, selector: ItemSelector, limit: i64) -> Result<Vec<RolloutItemRecord>> {
            let (cond, wave) = match selector {
                ItemSelector::All => ("1 = 1", -1),
                ItemSelector::PendingIn(w) => ("i.wave = $2 AND i.skip_reason IS NULL AND i.deployment_id IS NULL", i64::from(w)),
                ItemSelector::Updated => ("d.status = 'SUCCEEDED' AND i.rollback_deployment_id IS NULL AND i.rollback_error IS NULL", -1),
                ItemSelector::SkippedByPlan => ("i.wave IS NULL", -1),
            };
            let sql = format!(
                "SELECT i.*, d.id AS dep_id, d.status AS dep_status, d.started_at AS dep_started_at, d.completed_at AS dep_completed_at,
                        r.id AS rb_id, r.status AS rb_status, r.started_at AS rb_started_at, r.completed_at AS rb_completed_at
                   FROM rollout_items i
                   LEFT JOIN deployments d ON d.id = i.deployment_id
                   LEFT JOIN deployments r ON r.id = i.rollback_deployment_id
                  WHERE i.rollout_id = $1 AND {cond} AND $2 >= -1
                  ORDER BY i.seq LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(wave).bind(limit).fetch_all(&self.pool).await?;
            rows.iter().map(Self::rollout_item_from_row).collect()
        }

        async fn db_rollout_counts(&self, id: &str) -> Result<RolloutCounts> {
            let rows = sqlx::query(
                "SELECT i.wave AS wave,
                    SUM(CASE WHEN i.skip_reason IS NULL AND i.deployment_id IS NULL THEN 1 ELSE 0 END) AS pending,
                    SUM(CASE WHEN i.skip_reason IS NOT NULL THEN 1 ELSE 0 END) AS skipped,
                    SUM(CASE WHEN d.status IN ('IN_PROGRESS', 'CANCELLING') THEN 1 ELSE 0 END) AS active,
                    SUM(CASE WHEN d.status = 'SUCCEEDED' AND i.rollback_deployment_id IS NULL AND i.rollback_error IS NULL THEN 1 ELSE 0 END)
                        AS succeeded,
                    SUM(CASE WHEN d.status IN ('FAILED', 'CANCELLED') THEN 1 ELSE 0 END) AS failed,
                    SUM(CASE WHEN r.status IN ('IN_PROGRESS', 'CANCELLING') THEN 1 ELSE 0 END) AS rollback_active,
                    SUM(CASE WHEN r.status = 'SUCCEEDED' THEN 1 ELSE 0 END) AS rolled_back,
                    SUM(CASE WHEN r.status IN ('FAILED', 'CANCELLED') OR i.rollback_error IS NOT NULL THEN 1 ELSE 0 END) AS rollback_failed
                   FROM rollout_items i
                   LEFT JOIN deployments d ON d.id = i.deployment_id
                   LEFT JOIN deployments r ON r.id = i.rollback_deployment_id
                  WHERE i.rollout_id = $1 AND i.wave IS NOT NULL
                  GROUP BY i.wave ORDER BY i.wave",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let n = |c: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
                    Ok(deuteron_core::rollout::WaveCounts {
                        wave: version_part(r.try_get("wave")?)?,
                        pending: n("pending")?,
                        skipped: n("skipped")?,
                        active: n("active")?,
                        succeeded: n("succeeded")?,
                        failed: n("failed")?,
                        rollback_active: n("rollback_active")?,
                        rolled_back: n("rolled_back")?,
                        rollback_failed: n("rollback_failed")?,
                    })
                })
                .collect()
        }

        async fn db_claim_rollout(&self, worker: &str, lease_ms: i64) -> Result<Option<RolloutRecord>> {
            let mut tx = self.writer().begin_with($begin_write).await?;
            // Read the clock once the write lock is held, so timestamps follow commit order.
            let now = now_millis();
            let Some(row) = sqlx::query(Self::ROLLOUT_CLAIM_SQL).bind(now).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let id: String = row.try_get("id")?;
            let row = sqlx::query("UPDATE rollouts SET lease_owner = $1, lease_expires_at = $2 WHERE id = $3 RETURNING *")
                .bind(worker)
                .bind(now + lease_ms)
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(Self::rollout_from_row(&row)?))
        }

        async fn db_release_rollout(&self, id: &str, worker: &str) -> Result<()> {
            sqlx::query("UPDATE rollouts SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2")
                .bind(id)
                .bind(worker)
                .execute(self.writer())
                .await?;
            Ok(())
        }

        async fn db_change_rollout(&self, id: &str, c: &RolloutChange) -> Result<RolloutRecord> {
            let mut tx = self.writer().begin_with($begin_write).await?;
            // Read the clock once the write lock is held, so timestamps follow commit order.
            let now = now_millis();
            let row = sqlx::query("SELECT status, status_message FROM rollouts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("rollout {id}")))?;
            let status: String = row.try_get("status")?;
            let message: Option<String> = row.try_get("status_message")?;
            if !c.expected.iter().any(|e| e.as_str() == status) {
                return Err(StoreError::Conflict(format!("rollout {id} is {status}")));
            }
            let finished = c.status.is_final().then_some(now);
            sqlx::query(
                "UPDATE rollouts SET status = $1, status_message = COALESCE($2, status_message), current_wave = COALESCE($3, current_wave),
                        approved_wave = COALESCE($4, approved_wave), not_before = COALESCE($5, not_before),
                        finished_at = COALESCE($6, finished_at), updated_at = $7
                  WHERE id = $8",
            )
            .bind(c.status.as_str())
            .bind(&c.status_message)
            .bind(c.current_wave.map(i64::from))
            .bind(c.approved_wave.map(i64::from))
            .bind(c.not_before)
            .bind(finished)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if status != c.status.as_str() || (c.status_message.is_some() && c.status_message != message) {
                Self::event(&mut *tx, "ROLLOUT", id, Some(&status), c.status.as_str(), None, c.status_message.as_deref(), now).await?;
            }
            tx.commit().await?;
            self.db_get_rollout(id).await
        }

        async fn db_skip_rollout_item(&self, id: &str, seq: u32, reason: &str, rollback: bool) -> Result<()> {
            let sql = if rollback {
                "UPDATE rollout_items SET rollback_error = $1 WHERE rollout_id = $2 AND seq = $3 AND rollback_deployment_id IS NULL"
            } else {
                "UPDATE rollout_items SET skip_reason = $1 WHERE rollout_id = $2 AND seq = $3 AND deployment_id IS NULL"
            };
            sqlx::query(sql)
                .bind(reason)
                .bind(id)
                .bind(i64::from(seq))
                .execute(self.writer())
                .await?;
            Ok(())
        }

        async fn db_template_rollout_policy(&self, kind: TemplateKind, name: &str) -> Result<Option<(String, bool)>> {
            let row = sqlx::query("SELECT policy, automatic FROM template_rollout_policies WHERE template_kind = $1 AND template_name = $2")
                .bind(kind.as_str())
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| Ok((r.try_get("policy")?, r.try_get::<i64, _>("automatic")? != 0))).transpose()
        }

        async fn db_set_template_rollout_policy(&self, kind: TemplateKind, name: &str, policy: Option<(&str, bool)>) -> Result<()> {
            let mut tx = self.writer().begin_with($begin_write).await?;
            sqlx::query("DELETE FROM template_rollout_policies WHERE template_kind = $1 AND template_name = $2")
                .bind(kind.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if let Some((text, automatic)) = policy {
                sqlx::query("INSERT INTO template_rollout_policies (template_kind, template_name, policy, automatic) VALUES ($1, $2, $3, $4)")
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(text)
                    .bind(i64::from(automatic))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn db_set_instance_client_token(&self, service: &str, name: &str, token: &str) -> Result<()> {
            let n = sqlx::query("UPDATE service_instances SET last_client_request_token = $1 WHERE service_name = $2 AND name = $3")
                .bind(token)
                .bind(service)
                .bind(name)
                .execute(self.writer())
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("service instance {service}/{name}")));
            }
            Ok(())
        }

        async fn db_enqueue_rollout_deployment(&self, d: &NewDeployment, status: DeploymentStatus, link: &RolloutLink) -> Result<DeploymentRecord> {
            let mut tx = self.writer().begin_with($begin_write).await?;
            // Read the clock once the write lock is held, so timestamps follow commit order.
            let now = now_millis();
            let sql = if link.rollback {
                "UPDATE rollout_items SET rollback_deployment_id = $1 WHERE rollout_id = $2 AND seq = $3 AND rollback_deployment_id IS NULL"
            } else {
                "UPDATE rollout_items SET deployment_id = $1 WHERE rollout_id = $2 AND seq = $3 AND deployment_id IS NULL AND skip_reason IS NULL"
            };
            let linked = sqlx::query(sql).bind(&d.id).bind(&link.rollout_id).bind(i64::from(link.seq)).execute(&mut *tx).await?.rows_affected();
            if linked == 0 {
                return Err(StoreError::Conflict(format!("item {} of rollout {} was already started", link.seq, link.rollout_id)));
            }
            if Self::mark_attempt(&mut tx, &d.target, &d.id, status, now).await? == 0 {
                return Err(StoreError::NotFound(d.target.to_string()));
            }
            Self::insert_deployment(&mut *tx, d, status, now).await?;
            tx.commit().await?;
            self.get_deployment(&d.id).await
        }
        }
    };
}

// Rollout methods of both backends: `rollout_helpers!` adds decoders and SQL as inherent items,
// `rollout_methods!` expands to the `Store` methods inside `store_impl!`.

macro_rules! rollout_helpers {
    ($store:ty, $claim_lock:literal) => {
        impl $store {
            const ROLLOUT_CLAIM_SQL: &'static str = concat!(
                "SELECT id FROM rollouts WHERE ",
                due_rollouts!(),
                " ORDER BY not_before, created_at LIMIT 1 ",
                $claim_lock
            );

            /// The rollout item a deployment row belongs to, if any.
            fn rollout_link<R: Row>(row: &R) -> Result<Option<(String, i64)>>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let id: Option<String> = row.try_get("rollout_id")?;
                let seq: Option<i64> = row.try_get("rollout_seq")?;
                Ok(id.zip(seq))
            }

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
                        status_message: row.try_get(format!("{prefix}_message").as_str())?,
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
        /// An item's wave and the facts deciding which count it adds to; `None` for an unknown
        /// item or one outside every wave.
        async fn item_facts(
            tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
            rollout_id: &str,
            seq: i64,
        ) -> Result<Option<(i64, ItemFacts)>> {
            let row = sqlx::query(
                "SELECT i.wave, i.skip_reason, i.deployment_id, i.rollback_deployment_id, i.rollback_error, d.status AS dep_status, r.status AS rb_status
                   FROM rollout_items i
                   LEFT JOIN deployments d ON d.id = i.deployment_id
                   LEFT JOIN deployments r ON r.id = i.rollback_deployment_id
                  WHERE i.rollout_id = $1 AND i.seq = $2",
            )
            .bind(rollout_id)
            .bind(seq)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let Some(wave) = row.try_get::<Option<i64>, _>("wave")? else { return Ok(None) };
            let status = |id: &str, status: &str| -> Result<Option<DeploymentStatus>> {
                let Some(_) = row.try_get::<Option<String>, _>(id)? else { return Ok(None) };
                let s: Option<String> = row.try_get(status)?;
                // A started deployment whose record is gone counts as finished: it never moves again.
                let s = s.unwrap_or_else(|| "SUCCEEDED".into());
                DeploymentStatus::parse(&s).map(Some).ok_or_else(|| StoreError::Corrupt(format!("deployment status {s:?}")))
            };
            let facts = ItemFacts {
                skipped: row.try_get::<Option<String>, _>("skip_reason")?.is_some(),
                forward: status("deployment_id", "dep_status")?,
                rollback: status("rollback_deployment_id", "rb_status")?,
                rollback_error: row.try_get::<Option<String>, _>("rollback_error")?.is_some(),
            };
            Ok(Some((wave, facts)))
        }

        /// Moves an item from the count `before` decides to the one `after` decides.
        async fn move_item(
            tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
            rollout_id: &str,
            wave: i64,
            before: &ItemFacts,
            after: &ItemFacts,
        ) -> Result<()> {
            let Some(sets) = count_moves(before, after) else { return Ok(()) };
            let sql = format!("UPDATE rollout_waves SET {sets} WHERE rollout_id = $1 AND wave = $2");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(rollout_id).bind(wave).execute(&mut **tx).await?;
            Ok(())
        }

        /// A statement moving item `seq` from the count `before` decides to the one `after`
        /// decides, if its `link` column (`deployment_id` or `rollback_deployment_id`) is `id`.
        fn move_statement(batch: &mut Batch, rollout_id: &str, seq: i64, id: &str, link: &str, before: &ItemFacts, after: &ItemFacts) {
            let Some(sets) = count_moves(before, after) else { return };
            batch.push(
                format!(
                    "UPDATE rollout_waves SET {sets} WHERE rollout_id = $1
                        AND wave = (SELECT wave FROM rollout_items WHERE rollout_id = $1 AND seq = $2 AND {link} = $3)"
                ),
                vec![rollout_id.into(), seq.into(), id.into()],
            );
        }

        /// Statements moving item `seq` between counts when its running deployment `id` ends as
        /// `to`, without reading the item: while the forward deployment runs the item was neither
        /// skipped nor rolled back, and while a rollback runs the forward one had succeeded. One
        /// statement per side; only the side `id` is on matches a wave.
        fn rollout_finish_statements(batch: &mut Batch, rollout_id: &str, seq: i64, id: &str, to: DeploymentStatus) {
            use deuteron_core::DeploymentStatus as D;
            let forward = |s| ItemFacts { forward: Some(s), ..Default::default() };
            let rollback = |s| ItemFacts { forward: Some(D::Succeeded), rollback: Some(s), ..Default::default() };
            Self::move_statement(batch, rollout_id, seq, id, "deployment_id", &forward(D::InProgress), &forward(to));
            Self::move_statement(batch, rollout_id, seq, id, "rollback_deployment_id", &rollback(D::InProgress), &rollback(to));
        }

        async fn db_create_rollout(&self, r: &NewRollout) -> Result<RolloutRecord> {
            let mut conn = self.write_conn().await?;
            let mut tx = conn.begin_with($begin_write).await?;
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
            // Many rows per statement: a 10,000-item rollout is 400 statements, not 10,000 (25
            // rows a statement measured fastest: sqlx binds very long parameter lists slowly).
            const COLUMNS: usize = 13;
            for chunk in r.items.chunks(25) {
                let mut sql = String::from(
                    "INSERT INTO rollout_items (rollout_id, seq, wave, target_type, target_key, environment_name, from_major, from_minor,
                         to_major, to_minor, from_spec, to_spec, skip_reason) VALUES ",
                );
                let mut args: Vec<Arg> = Vec::with_capacity(chunk.len() * COLUMNS);
                for (n, i) in chunk.iter().enumerate() {
                    let first = n * COLUMNS + 1;
                    let row: Vec<String> = (first..first + COLUMNS).map(|p| format!("${p}")).collect();
                    sql.push_str(&format!("{}({})", if n == 0 { "" } else { ", " }, row.join(", ")));
                    args.extend([
                        Arg::from(&r.id),
                        i64::from(i.seq).into(),
                        i.wave.map(i64::from).into(),
                        i.target.target_type().as_str().into(),
                        i.target.key().into(),
                        (&i.environment_name).into(),
                        i64::from(i.from.major).into(),
                        i64::from(i.from.minor).into(),
                        i64::from(i.to.major).into(),
                        i64::from(i.to.minor).into(),
                        (&i.from_spec).into(),
                        (&i.to_spec).into(),
                        (&i.skip_reason).into(),
                    ]);
                }
                bound_query(sql, &args).execute(&mut *tx).await?;
            }
            let mut waves: std::collections::BTreeMap<u32, WaveCounts> = std::collections::BTreeMap::new();
            for i in &r.items {
                if let Some(w) = i.wave {
                    let facts = ItemFacts { skipped: i.skip_reason.is_some(), ..Default::default() };
                    if let Some(b) = facts.bucket() {
                        b.add_to(waves.entry(w).or_default(), 1);
                    }
                }
            }
            for (w, c) in waves {
                sqlx::query("INSERT INTO rollout_waves (rollout_id, wave, pending, skipped) VALUES ($1, $2, $3, $4)")
                    .bind(&r.id)
                    .bind(i64::from(w))
                    .bind(c.pending as i64)
                    .bind(c.skipped as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            Self::event(&mut *tx, "ROLLOUT", &r.id, None, r.status.as_str(), None, r.status_message.as_deref(), now).await?;
            tx.commit().await?;
            drop(conn);
            self.db_get_rollout(&r.id).await
        }

        async fn db_get_rollout(&self, id: &str) -> Result<RolloutRecord> {
            let row = sqlx::query("SELECT * FROM rollouts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *self.read_conn().await?)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("rollout {id}")))?;
            Self::rollout_from_row(&row)
        }

        async fn db_list_rollouts(&self, limit: i64) -> Result<Vec<RolloutRecord>> {
            let rows = sqlx::query("SELECT * FROM rollouts ORDER BY created_at DESC, id DESC LIMIT $1").bind(limit).fetch_all(&mut *self.read_conn().await?).await?;
            rows.iter().map(Self::rollout_from_row).collect()
        }

        async fn db_rollout_items(&self, id: &str, selector: ItemSelector, limit: i64) -> Result<Vec<RolloutItemRecord>> {
            let (cond, wave) = match selector {
                ItemSelector::All => ("1 = 1", -1),
                // A pipeline waits until every instance of its service the rollout moves (in
                // this wave or before) has finished: it may read their new outputs.
                ItemSelector::PendingIn(w) => (
                    "i.wave = $2 AND i.skip_reason IS NULL AND i.deployment_id IS NULL
                     AND NOT (i.target_type = 'SERVICE_PIPELINE' AND EXISTS (
                         SELECT 1 FROM rollout_items o LEFT JOIN deployments od ON od.id = o.deployment_id
                          WHERE o.rollout_id = i.rollout_id AND o.target_type = 'SERVICE_INSTANCE'
                            AND substr(o.target_key, 1, length(i.target_key) + 1) = i.target_key || '/'
                            AND o.wave IS NOT NULL AND o.wave <= i.wave AND o.skip_reason IS NULL
                            AND (o.deployment_id IS NULL OR od.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED'))))",
                    i64::from(w),
                ),
                ItemSelector::ToRollBack => (
                    "d.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND i.rollback_deployment_id IS NULL AND i.rollback_error IS NULL",
                    -1,
                ),
                ItemSelector::SkippedByPlan => ("i.wave IS NULL", -1),
            };
            let sql = format!(
                "SELECT i.*, d.id AS dep_id, d.status AS dep_status, d.started_at AS dep_started_at, d.completed_at AS dep_completed_at,
                        d.status_message AS dep_message,
                        r.id AS rb_id, r.status AS rb_status, r.started_at AS rb_started_at, r.completed_at AS rb_completed_at,
                        r.status_message AS rb_message
                   FROM rollout_items i
                   LEFT JOIN deployments d ON d.id = i.deployment_id
                   LEFT JOIN deployments r ON r.id = i.rollback_deployment_id
                  WHERE i.rollout_id = $1 AND {cond} AND $2 >= -1
                  ORDER BY i.seq LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(wave).bind(limit).fetch_all(&mut *self.read_conn().await?).await?;
            rows.iter().map(Self::rollout_item_from_row).collect()
        }

        async fn db_rollout_counts(&self, id: &str) -> Result<RolloutCounts> {
            let rows = sqlx::query("SELECT * FROM rollout_waves WHERE rollout_id = $1 ORDER BY wave").bind(id).fetch_all(&mut *self.read_conn().await?).await?;
            rows.iter()
                .map(|r| {
                    let n = |c: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
                    Ok(WaveCounts {
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
            // One statement (atomic on its own: SKIP LOCKED on PostgreSQL, the single writer
            // connection on SQLite); the clock is read once the connection is held.
            // A look on a reading connection first: a driver with nothing to step (the usual
            // answer to its second claim) does not queue for the writer.
            let due = sqlx::query(concat!("SELECT 1 AS x FROM rollouts WHERE ", due_rollouts!(), " LIMIT 1"))
            .bind(now_millis())
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
            if due.is_none() {
                return Ok(None);
            }
            let mut conn = self.write_conn().await?;
            let now = now_millis();
            let sql = format!("UPDATE rollouts SET lease_owner = $2, lease_expires_at = $3 WHERE id = ({}) RETURNING *", Self::ROLLOUT_CLAIM_SQL);
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(worker).bind(now + lease_ms).fetch_optional(&mut *conn).await?;
            row.map(|r| Self::rollout_from_row(&r)).transpose()
        }

        async fn db_renew_rollout(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Option<RolloutRecord>> {
            let mut conn = self.write_conn().await?;
            let sql = "UPDATE rollouts SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 RETURNING *";
            let row = sqlx::query(sql).bind(id).bind(worker).bind(now_millis() + lease_ms).fetch_optional(&mut *conn).await?;
            row.map(|r| Self::rollout_from_row(&r)).transpose()
        }

        async fn db_release_rollout(&self, id: &str, worker: &str) -> Result<()> {
            sqlx::query("UPDATE rollouts SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2")
                .bind(id)
                .bind(worker)
                .execute(&mut *self.write_conn().await?)
                .await?;
            Ok(())
        }

        async fn db_change_rollout(&self, id: &str, c: &RolloutChange) -> Result<RolloutRecord> {
            let mut conn = self.write_conn().await?;
            let mut tx = conn.begin_with($begin_write).await?;
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
            drop(conn);
            self.db_get_rollout(id).await
        }

        async fn db_skip_rollout_item(&self, id: &str, seq: u32, reason: &str, rollback: bool) -> Result<()> {
            let sql = if rollback {
                "UPDATE rollout_items SET rollback_error = $1 WHERE rollout_id = $2 AND seq = $3 AND rollback_deployment_id IS NULL"
            } else {
                "UPDATE rollout_items SET skip_reason = $1 WHERE rollout_id = $2 AND seq = $3 AND deployment_id IS NULL"
            };
            let mut conn = self.write_conn().await?;
            let mut tx = conn.begin_with($begin_write).await?;
            let Some((wave, before)) = Self::item_facts(&mut tx, id, i64::from(seq)).await? else { return Ok(()) };
            let changed = sqlx::query(sql).bind(reason).bind(id).bind(i64::from(seq)).execute(&mut *tx).await?.rows_affected();
            if changed > 0 {
                let mut after = before.clone();
                if rollback {
                    after.rollback_error = true;
                } else {
                    after.skipped = true;
                }
                Self::move_item(&mut tx, id, wave, &before, &after).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn db_template_rollout_policy(&self, kind: TemplateKind, name: &str) -> Result<Option<(String, bool)>> {
            let row = sqlx::query("SELECT policy, automatic FROM template_rollout_policies WHERE template_kind = $1 AND template_name = $2")
                .bind(kind.as_str())
                .bind(name)
                .fetch_optional(&mut *self.read_conn().await?)
                .await?;
            row.map(|r| Ok((r.try_get("policy")?, r.try_get::<i64, _>("automatic")? != 0))).transpose()
        }

        async fn db_set_template_rollout_policy(&self, kind: TemplateKind, name: &str, policy: Option<(&str, bool)>) -> Result<()> {
            let mut conn = self.write_conn().await?;
            let mut tx = conn.begin_with($begin_write).await?;
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
                .execute(&mut *self.write_conn().await?)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("service instance {service}/{name}")));
            }
            Ok(())
        }

        /// The statements of a forward start: the link (guarded: the item is pending and its
        /// target exists), the count move, the target's fields and event, the deployment
        /// (returned).
        fn forward_start_statements(batch: &mut Batch, d: &NewDeployment, status: DeploymentStatus, link: &RolloutLink, now: i64) {
            let seq = i64::from(link.seq);
            let (table, wh, binds) = Self::target_row(&d.target);
            let n = binds.len();
            let mut args: Vec<Arg> = binds.into_iter().map(Arg::Text).collect();
            args.extend([(&d.id).into(), (&link.rollout_id).into(), seq.into()]);
            batch.push_guarded(
                format!(
                    "UPDATE rollout_items SET deployment_id = ${} WHERE rollout_id = ${} AND seq = ${}
                        AND deployment_id IS NULL AND skip_reason IS NULL AND EXISTS (SELECT 1 FROM {table} WHERE {wh})",
                    n + 1, n + 2, n + 3
                ),
                args,
            );
            let after = ItemFacts { forward: Some(status), ..Default::default() };
            Self::move_statement(batch, &link.rollout_id, seq, &d.id, "deployment_id", &ItemFacts::default(), &after);
            Self::mark_attempt_statements(batch, &d.target, &d.id, status, now);
            let (sql, args) = Self::insert_deployment_statement(d, status, now, Some(link));
            batch.push_returning(sql, args);
        }

        async fn db_enqueue_rollout_deployments(&self, starts: &[RolloutStart]) -> Vec<Result<DeploymentRecord>> {
            if starts.len() > 1 && starts.iter().all(|s| !s.link.rollback) {
                let written = self
                    .write_batch(|now| {
                        let mut batch = Batch::default();
                        for s in starts {
                            Self::forward_start_statements(&mut batch, &s.deployment, s.status, &s.link, now);
                        }
                        Ok(batch)
                    })
                    .await;
                // Any failure (an item taken or skipped meanwhile, a resource gone or busy):
                // nothing was kept; each start is tried on its own below.
                if let Ok(Some(rows)) = written
                    && rows.len() == starts.len()
                {
                    return rows.iter().map(Self::deployment_from_row).collect();
                }
            }
            let mut out = Vec::with_capacity(starts.len());
            for s in starts {
                out.push(self.db_enqueue_rollout_deployment(&s.deployment, s.status, &s.link).await);
            }
            out
        }

        async fn db_enqueue_rollout_deployment(&self, d: &NewDeployment, status: DeploymentStatus, link: &RolloutLink) -> Result<DeploymentRecord> {
            let seq = i64::from(link.seq);
            let taken = || StoreError::Conflict(format!("item {} of rollout {} was already started", link.seq, link.rollout_id));
            if !link.rollback {
                // A forward start takes an item nobody started or skipped, so from `pending`; all
                // of it is decided up front and written as one batch (one call on SQLite): the
                // link (guarded: the item is pending and its target exists), the count move, the
                // target's fields and event, the deployment.
                let written = self
                    .write_batch(|now| {
                        let mut batch = Batch::default();
                        Self::forward_start_statements(&mut batch, d, status, link, now);
                        Ok(batch)
                    })
                    .await
                    .map_err(|e| match e {
                        StoreError::Database(e) => map_unique(e, || Self::in_progress(d)),
                        e => e,
                    })?;
                if let Some(row) = written.as_ref().and_then(|rows| rows.first()) {
                    return Self::deployment_from_row(row);
                }
                // Nothing was written: say why.
                let started = sqlx::query("SELECT deployment_id, skip_reason FROM rollout_items WHERE rollout_id = $1 AND seq = $2")
                    .bind(&link.rollout_id)
                    .bind(seq)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?;
                return Err(match started {
                    None => StoreError::NotFound(format!("item {} of rollout {}", link.seq, link.rollout_id)),
                    Some(r) if r.try_get::<Option<String>, _>("deployment_id")?.is_some() || r.try_get::<Option<String>, _>("skip_reason")?.is_some() => {
                        taken()
                    }
                    Some(_) => StoreError::NotFound(d.target.to_string()),
                });
            }
            let mut conn = self.write_conn().await?;
            let mut tx = conn.begin_with($begin_write).await?;
            // Read the clock once the write lock is held, so timestamps follow commit order.
            let now = now_millis();
            // A rollback starts from the item's facts.
            let before = Self::item_facts(&mut tx, &link.rollout_id, seq).await?;
            let sql = "UPDATE rollout_items SET rollback_deployment_id = $1 WHERE rollout_id = $2 AND seq = $3 AND rollback_deployment_id IS NULL RETURNING wave";
            let Some(linked) = sqlx::query(sql).bind(&d.id).bind(&link.rollout_id).bind(seq).fetch_optional(&mut *tx).await? else {
                return Err(taken());
            };
            if Self::mark_attempt(&mut tx, &d.target, &d.id, status, now).await? == 0 {
                return Err(StoreError::NotFound(d.target.to_string()));
            }
            let dep = Self::insert_deployment(&mut *tx, d, status, now, Some(link)).await?;
            let wave: Option<i64> = linked.try_get("wave")?;
            let (wave, before) = match (before, wave) {
                (Some(b), _) => b,
                (None, Some(w)) => (w, ItemFacts::default()),
                (None, None) => {
                    tx.commit().await?;
                    return Ok(dep);
                }
            };
            let after = ItemFacts { rollback: Some(status), ..before.clone() };
            Self::move_item(&mut tx, &link.rollout_id, wave, &before, &after).await?;
            tx.commit().await?;
            Ok(dep)
        }
        }
    };
}

/// The `SET` clause moving an item from the count `before` decides to the one `after` decides;
/// `None` when both decide the same count.
fn count_moves(before: &ItemFacts, after: &ItemFacts) -> Option<String> {
    let (from, to) = (before.bucket(), after.bucket());
    if from == to {
        return None;
    }
    let sets: Vec<String> =
        [from.map(|b| format!("{c} = {c} - 1", c = b.column())), to.map(|b| format!("{c} = {c} + 1", c = b.column()))].into_iter().flatten().collect();
    Some(sets.join(", "))
}

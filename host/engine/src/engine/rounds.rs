//! Rounds: every service is polled and moved on, and what a crash
//! interrupted is sent again; after a restart, the driver's VMs are matched
//! with the services (reconciliation).

use super::*;

impl Engine {
    /// One round for one service: retry creates that were recorded but not
    /// confirmed (after a crash), poll its VMs, move it on.
    pub async fn tick(&self, id: u64) -> Result<(), EngineError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let mut service = match self.store().service(id)? {
            Some(s) => s,
            None => return Ok(()),
        };
        if service.state == crate::service::ServiceState::Pending {
            // Stored but never started (a crash right after it was
            // created): start it now.
            let effects = service.start(self.now());
            return self.commit(&mut service, effects).await;
        }
        // What a crash interrupted: creates recorded but not confirmed
        // (retried under the same operation id) and VM actions recorded but
        // not answered (sent again; they are idempotent).
        let retries: Vec<Effect> = service
            .unconfirmed_creates()
            .into_iter()
            .map(Effect::Create)
            .chain(service.outbox.iter().cloned().map(Effect::Act))
            .chain(service.pending_network_steps())
            .collect();
        if !retries.is_empty() {
            self.execute(&mut service, retries).await?;
        }
        let ids = self.vms_to_poll(&service)?;
        let observed = if ids.is_empty() {
            Vec::new()
        } else {
            match self.inner.driver.poll(ids).await {
                Ok(observed) => observed,
                Err(e) => {
                    let message = format!("Polling VMs failed: {e}");
                    if service.log.last().map(|l| &l.message) != Some(&message) {
                        service.error(self.now(), message);
                        self.store().save_service(&service)?;
                    }
                    return Ok(());
                }
            }
        };
        // Write only when the round changed something: most rounds of a
        // running service change nothing.
        let before = service.clone();
        let now = self.now();
        let observed = self.with_reports(&service, observed);
        let observed = self.with_lost_hosts(&service, observed)?;
        let mut effects = service.observe(&observed, now);
        if effects.is_empty()
            && let Some(round) = service.policy_round(now, self.autoscale_settings())
        {
            let (round, answers) = self.evaluate(round).await?;
            effects = service.autoscaled(round, answers, now);
        }
        // The values a poll brought are not written: a round that changed
        // only them costs no write.
        if !service.same_record(&before) || !effects.is_empty() {
            self.commit(&mut service, effects).await?;
            // A VM that left gives its addresses and reports back.
            if !service.deleted && super::vnets::a_node_left(&before, &service) {
                self.release_leases(&service)?;
                self.sweep_plumbing().await?;
            }
        }
        Ok(())
    }

    /// What VMs reported through OneGate, over what the driver saw: a
    /// VM's own `READY=YES` and values count as if its hypervisor reported
    /// them (OpenNebula keeps both in the VM's user template).
    fn with_reports(
        &self,
        service: &Service,
        mut observed: Vec<crate::service::lifecycle::Observed>,
    ) -> Vec<crate::service::lifecycle::Observed> {
        let Some(onegate) = self.onegate() else {
            return observed;
        };
        let operations: HashMap<&str, &str> = service
            .roles
            .iter()
            .flat_map(|r| r.nodes.iter())
            .filter_map(|n| Some((n.vm_id.as_deref()?, n.operation_id.as_str())))
            .collect();
        for o in &mut observed {
            let Some(op) = operations.get(o.vm_id.as_str()) else {
                continue;
            };
            let reported = onegate.reported(service.id, op);
            if reported.is_empty() {
                continue;
            }
            o.ready |= flotilla_model::says_ready(&reported);
            let attributes = &mut o.values.attributes;
            for kv in reported {
                attributes.retain(|a| !a.key.eq_ignore_ascii_case(&kv.key));
                attributes.push(kv);
            }
        }
        observed
    }

    /// The evaluations a round of automatic scaling asked for, through the
    /// policy backend. Plugins run until their deadline at worst: off the
    /// async threads, where only the round goes (the service stays here).
    async fn evaluate(
        &self,
        round: crate::service::lifecycle::PolicyRound,
    ) -> Result<
        (
            crate::service::lifecycle::PolicyRound,
            Vec<crate::service::lifecycle::Answer>,
        ),
        EngineError,
    > {
        if round.calls.is_empty() {
            return Ok((round, Vec::new()));
        }
        let policies = self.inner.policies.clone();
        tokio::task::spawn_blocking(move || {
            let answers = round
                .calls
                .iter()
                .map(|call| policies.evaluate_call(call))
                .collect();
            (round, answers)
        })
        .await
        .map_err(|e| EngineError::Storage(format!("evaluating policies: {e}")))
    }

    fn autoscale_settings(&self) -> crate::service::lifecycle::AutoscaleSettings {
        crate::service::lifecycle::AutoscaleSettings {
            cadence_ms: self.inner.settings.policy_evaluation_ms,
            max_age_ms: self.inner.settings.metric_max_age_ms,
        }
    }

    /// A round over every service; services progress concurrently.
    pub async fn tick_all(&self) -> Result<(), EngineError> {
        let ids = self.service_ids()?;
        tracing::debug!(services = ids.len(), "engine round");
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let engine = self.clone();
            // What is logged while a service moves on carries its id.
            let span = tracing::info_span!("service", service = id);
            tasks.spawn(tracing::Instrument::instrument(
                async move { engine.tick(id).await },
                span,
            ));
        }
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("engine round: {e}"),
                Err(e) => tracing::error!("engine round task failed: {e}"),
            }
        }
        if self.sweep_gone_services()? > 0 {
            self.sweep_plumbing().await?;
        }
        Ok(())
    }

    /// After a restart: match the driver's VMs with the services. A VM
    /// whose create was recorded but not confirmed gets its id; a VM that
    /// carries a service operation id no service knows is an orphan and is
    /// terminated. Returns how many VMs were adopted and terminated.
    pub async fn reconcile(&self) -> Result<(usize, usize), EngineError> {
        let managed = self
            .inner
            .driver
            .list()
            .await
            .map_err(|e| EngineError::Storage(format!("listing the driver's VMs: {e}")))?;
        // By service, so each service is read and written once.
        let mut by_service: std::collections::BTreeMap<u64, Vec<ManagedRecord>> =
            Default::default();
        for vm in managed {
            if !vm.done && vm.operation_id.starts_with("service-") {
                by_service.entry(vm.service_id).or_default().push(vm);
            }
        }
        let (mut adopted, mut orphans) = (0, Vec::new());
        for (id, vms) in by_service {
            let lock = self.lock_for(id);
            let _guard = lock.lock().await;
            let mut service = self.store().service(id)?;
            let mut changed = false;
            for vm in vms {
                let node = service.as_mut().and_then(|s| {
                    s.roles
                        .iter_mut()
                        .flat_map(|r| r.nodes.iter_mut())
                        .find(|n| n.operation_id == vm.operation_id)
                });
                match node {
                    Some(node) if node.vm_id.is_none() => {
                        node.vm_id = Some(vm.id);
                        adopted += 1;
                        changed = true;
                    }
                    Some(_) => {}
                    None => orphans.push(vm),
                }
            }
            if let (Some(service), true) = (&service, changed) {
                self.store().save_service(service)?;
            }
        }
        for vm in &orphans {
            tracing::warn!(vm = %vm.id, operation = %vm.operation_id, "terminating a VM no service owns");
            if let Err(e) = self
                .inner
                .driver
                .act(
                    vm.id.clone(),
                    crate::plugin::VmAction::TerminateHard,
                    Vec::new(),
                )
                .await
            {
                tracing::error!(vm = %vm.id, "terminating an orphan VM failed: {e}");
            }
        }
        // Devices of VMs and networks that went while the server was down
        // (or died half-way through removing them).
        self.sweep_plumbing().await?;
        Ok((adopted, orphans.len()))
    }

    /// Rounds the loop of `spawn_loop` has completed.
    pub fn rounds(&self) -> u64 {
        self.inner.rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tick every service every `interval` until the engine is dropped.
    pub fn spawn_loop(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.tick_all().await {
                    tracing::error!("engine round: {e}");
                }
                engine
                    .inner
                    .rounds
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(interval).await;
            }
        })
    }
}

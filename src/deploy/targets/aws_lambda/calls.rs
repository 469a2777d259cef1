//! The Lambda and IAM API calls one at a time, and the waits between them.

use super::*;

impl AwsLambda {
    /// The SDK configuration: credentials and region from the standard chain (environment,
    /// profile, SSO, web identity, container and instance metadata), `AWS_ENDPOINT_URL` honoured.
    pub(super) async fn clients(&self) -> Result<Clients, TargetError> {
        let sdk = self
            .sdk
            .get_or_init(|| async {
                let retry = RetryConfig::standard()
                    .with_max_attempts(self.s.max_attempts.max(1))
                    .with_initial_backoff(self.s.initial_backoff)
                    .with_max_backoff(Duration::from_secs(20));
                let mut loader =
                    aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
                if let Some(r) = &self.s.region {
                    loader = loader.region(aws_config::Region::new(r.clone()));
                }
                loader.load().await
            })
            .await;
        let region =
            sdk.region().map(|r| r.to_string()).ok_or_else(|| {
                TargetError::Config {
            message: "no AWS region for the aws-lambda target".into(),
            hint: Some(
                "pass --region us-east-1, set `region` in [target] of .pmcp/deploy.toml, or set \
                 AWS_REGION"
                    .into(),
            ),
        }
            })?;
        if sdk.credentials_provider().is_none() {
            return Err(no_credentials());
        }
        Ok(Clients {
            lambda: aws_sdk_lambda::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            region,
        })
    }

    /// The function's configuration, or `None` when it does not exist.
    pub(super) async fn get_function(
        &self,
        c: &Clients,
    ) -> Result<Option<aws_sdk_lambda::operation::get_function::GetFunctionOutput>, TargetError>
    {
        match c
            .lambda
            .get_function()
            .function_name(&self.s.function_name)
            .send()
            .await
        {
            Ok(f) => Ok(Some(f)),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(aws_error("lambda:GetFunction", e)),
        }
    }

    /// `[target] role_arn`, else the role `cargo-pmcp-<server>`: found, or created with the
    /// basic execution policy. Returns the ARN and whether it was created now.
    pub(super) async fn ensure_role(
        &self,
        c: &Clients,
        progress: &mut Progress,
    ) -> Result<(String, bool), TargetError> {
        if let Some(arn) = &self.s.role_arn {
            return Ok((arn.clone(), false));
        }
        let name = self.s.default_role_name();
        match c.iam.get_role().role_name(&name).send().await {
            Ok(r) => {
                let arn = r.role().map(|r| r.arn().to_string()).unwrap_or_default();
                return Ok((arn, false));
            }
            Err(e) if code(&e) == Some("NoSuchEntity") => {}
            Err(e) => return Err(role_error("iam:GetRole", &name, e)),
        }
        progress.step(&format!("creating the execution role {name}"));
        let created = c
            .iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(TRUST_POLICY)
            .description(format!(
                "Execution role of the MCP server {} (created by cargo-pmcp)",
                self.s.function_name
            ))
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(CREATED_BY_TAG.0)
                    .value(CREATED_BY_TAG.1)
                    .build()
                    .map_err(|e| TargetError::Io(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| role_error("iam:CreateRole", &name, e))?;
        let arn = created
            .role()
            .map(|r| r.arn().to_string())
            .unwrap_or_default();
        let partition = arn.split(':').nth(1).unwrap_or("aws");
        c.iam
            .attach_role_policy()
            .role_name(&name)
            .policy_arn(format!(
                "arn:{partition}:iam::aws:policy/{BASIC_EXECUTION_POLICY}"
            ))
            .send()
            .await
            .map_err(|e| role_error("iam:AttachRolePolicy", &name, e))?;
        progress.done(&format!("created the execution role {name}"));
        Ok((arn, true))
    }

    /// Poll `GetFunctionConfiguration` until the function is `Active` and its last update
    /// `Successful` (bounded by the wait timeout); `Failed` ends it with Lambda's reason.
    pub(super) async fn wait_ready(&self, c: &Clients, what: &str) -> Result<(), TargetError> {
        let start = Instant::now();
        loop {
            let cfg = c
                .lambda
                .get_function_configuration()
                .function_name(&self.s.function_name)
                .send()
                .await
                .map_err(|e| aws_error("lambda:GetFunctionConfiguration", e))?;
            let state = cfg.state().cloned();
            let update = cfg.last_update_status().cloned();
            if state == Some(State::Failed) || update == Some(LastUpdateStatus::Failed) {
                let reason = cfg
                    .last_update_status_reason()
                    .or(cfg.state_reason())
                    .unwrap_or("no reason given");
                return Err(TargetError::Failed {
                    message: format!("Lambda could not apply the {what}: {reason}"),
                });
            }
            let active = matches!(state, None | Some(State::Active));
            let done = matches!(update, None | Some(LastUpdateStatus::Successful));
            if active && done {
                return Ok(());
            }
            let last = format!(
                "State {}, LastUpdateStatus {}",
                state.as_ref().map(|s| s.as_str()).unwrap_or("-"),
                update.as_ref().map(|s| s.as_str()).unwrap_or("-")
            );
            if start.elapsed() >= self.s.wait_timeout {
                return Err(TargetError::Timeout {
                    waited_secs: start.elapsed().as_secs_f64(),
                    last_status: last,
                    hint: "raise --wait-timeout, or look at the function in the Lambda console"
                        .into(),
                });
            }
            tokio::time::sleep(self.s.poll_interval).await;
        }
    }

    /// Run `call` again while Lambda answers `ResourceConflictException` (an update in progress),
    /// up to the wait timeout.
    pub(super) async fn retry_conflict<T, E, R, F, Fut>(
        &self,
        action: &str,
        mut call: F,
    ) -> Result<T, TargetError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let start = Instant::now();
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e)
                    if code(&e) == Some("ResourceConflictException")
                        && start.elapsed() < self.s.wait_timeout =>
                {
                    tokio::time::sleep(self.s.poll_interval).await;
                }
                Err(e) if code(&e) == Some("ResourceConflictException") => {
                    return Err(TargetError::Timeout {
                        waited_secs: start.elapsed().as_secs_f64(),
                        last_status: format!(
                            "{action}: ResourceConflictException ({})",
                            e.message().unwrap_or("an update is in progress")
                        ),
                        hint: "another update of the function is still in progress; retry \
                               later or raise --wait-timeout"
                            .into(),
                    });
                }
                Err(e) => return Err(aws_error(action, e)),
            }
        }
    }

    /// The Function URL (created when missing, auth `NONE`) and its two public permissions.
    pub(super) async fn ensure_url(&self, c: &Clients) -> Result<String, TargetError> {
        let name = &self.s.function_name;
        let url = match c
            .lambda
            .get_function_url_config()
            .function_name(name)
            .send()
            .await
        {
            Ok(u) => u.function_url().to_string(),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => self
                .retry_conflict("lambda:CreateFunctionUrlConfig", || {
                    c.lambda
                        .create_function_url_config()
                        .function_name(name)
                        .auth_type(FunctionUrlAuthType::None)
                        .send()
                })
                .await?
                .function_url()
                .to_string(),
            Err(e) => return Err(aws_error("lambda:GetFunctionUrlConfig", e)),
        };
        for (sid, action, via_url) in [
            (URL_STATEMENT, "lambda:InvokeFunctionUrl", false),
            (INVOKE_STATEMENT, "lambda:InvokeFunction", true),
        ] {
            let mut add = c
                .lambda
                .add_permission()
                .function_name(name)
                .statement_id(sid)
                .action(action)
                .principal("*");
            add = if via_url {
                add.invoked_via_function_url(true)
            } else {
                add.function_url_auth_type(FunctionUrlAuthType::None)
            };
            match add.send().await {
                Ok(_) => {}
                // Already there from an earlier deploy.
                Err(e) if code(&e) == Some("ResourceConflictException") => {}
                Err(e) => return Err(aws_error("lambda:AddPermission", e)),
            }
        }
        Ok(url)
    }

    /// Delete the role `role` if it carries the created-by tag: detach its managed policies, then
    /// delete it. Returns false when it is not ours.
    pub(super) async fn delete_own_role(
        &self,
        c: &Clients,
        role: &str,
    ) -> Result<bool, TargetError> {
        let tags = c
            .iam
            .list_role_tags()
            .role_name(role)
            .send()
            .await
            .map_err(|e| role_error("iam:ListRoleTags", role, e))?;
        let ours = tags
            .tags()
            .iter()
            .any(|t| t.key() == CREATED_BY_TAG.0 && t.value() == CREATED_BY_TAG.1);
        if !ours {
            return Ok(false);
        }
        let attached = c
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| role_error("iam:ListAttachedRolePolicies", role, e))?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                c.iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| role_error("iam:DetachRolePolicy", role, e))?;
            }
        }
        c.iam
            .delete_role()
            .role_name(role)
            .send()
            .await
            .map_err(|e| role_error("iam:DeleteRole", role, e))?;
        Ok(true)
    }
}

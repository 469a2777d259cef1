//! A deploy as a sequence of calls: the plan `--dry-run` prints, and the first and next deploys.

use super::*;

impl AwsLambda {
    pub(super) fn environment(&self, req: &DeployRequest<'_>, url: Option<&str>) -> Environment {
        let mut vars: HashMap<String, String> = req
            .env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for s in req.secrets {
            vars.insert(s.name.clone(), s.value.secret().to_string());
        }
        if let Some(u) = url {
            vars.insert(RESOURCE_URL_VAR.to_string(), u.to_string());
        }
        Environment::builder().set_variables(Some(vars)).build()
    }

    /// The API calls a deploy makes, with their non-secret parameters (`--dry-run`).
    pub fn planned_calls(&self, req: &DeployRequest<'_>, arch: &str) -> Vec<String> {
        let n = &self.s.function_name;
        let region = self
            .s
            .region
            .clone()
            .unwrap_or_else(|| "from AWS_REGION / the profile".into());
        let role = self.s.role_arn.clone().unwrap_or_else(|| {
            format!(
                "{} (iam:GetRole; iam:CreateRole + iam:AttachRolePolicy {BASIC_EXECUTION_POLICY} when missing)",
                self.s.default_role_name()
            )
        });
        let mut env: Vec<String> = req.env.vars.keys().cloned().collect();
        env.extend(req.secrets.iter().map(|s| format!("{} (secret)", s.name)));
        env.push(RESOURCE_URL_VAR.into());
        vec![
            format!("region {region}"),
            format!("lambda:GetFunction FunctionName={n}"),
            format!(
                "if missing: lambda:CreateFunction FunctionName={n} Runtime={RUNTIME} Handler=bootstrap \
                 Architectures=[{arch}] MemorySize={} Timeout={} Role={role} ZipFile=<{} bytes, sha256 {}>",
                self.s.memory_mb, self.s.timeout_seconds, req.artifact.size, req.artifact.sha256
            ),
            format!(
                "if present: lambda:UpdateFunctionCode FunctionName={n} Architectures=[{arch}] ZipFile=<{} bytes>",
                req.artifact.size
            ),
            format!(
                "lambda:GetFunctionConfiguration FunctionName={n} (until LastUpdateStatus=Successful)"
            ),
            format!(
                "lambda:GetFunctionUrlConfig / lambda:CreateFunctionUrlConfig FunctionName={n} AuthType=NONE"
            ),
            format!(
                "lambda:AddPermission FunctionName={n} StatementId={URL_STATEMENT} Action=lambda:InvokeFunctionUrl Principal=* FunctionUrlAuthType=NONE"
            ),
            format!(
                "lambda:AddPermission FunctionName={n} StatementId={INVOKE_STATEMENT} Action=lambda:InvokeFunction Principal=* InvokedViaFunctionUrl=true"
            ),
            format!(
                "lambda:UpdateFunctionConfiguration FunctionName={n} MemorySize={} Timeout={} Environment=[{}]",
                self.s.memory_mb,
                self.s.timeout_seconds,
                env.join(", ")
            ),
        ]
    }

    /// This target for the function `name` (deploy learns the server name from the request).
    pub(super) fn named(&self, name: &str) -> AwsLambda {
        AwsLambda::new(AwsLambdaSettings {
            function_name: name.to_string(),
            ..self.s.clone()
        })
    }

    pub(super) async fn deploy_named(
        &self,
        req: &DeployRequest<'_>,
        progress: &mut Progress,
    ) -> Result<Deployed, TargetError> {
        let mut durations = BTreeMap::new();
        let arch = Architecture::of_triple(req.target_triple).ok_or_else(|| {
            TargetError::Config {
                message: format!(
                    "Lambda runs x86_64 and arm64 code; {} is neither",
                    req.target_triple
                ),
                hint: Some(
                    "build with --target-triple x86_64-unknown-linux-musl or aarch64-unknown-linux-musl"
                        .into(),
                ),
            }
        })?;
        let lambda_arch = aws_sdk_lambda::types::Architecture::from(arch.as_str());
        let c = self.clients().await?;
        let name = &self.s.function_name;
        let zip = tokio::fs::read(&req.artifact.path).await.map_err(|e| {
            TargetError::Io(format!("cannot read {}: {e}", req.artifact.path.display()))
        })?;
        let t_upload = Instant::now();
        progress.step(&format!("looking up the function {name} in {}", c.region));
        let existing = self.get_function(&c).await?;
        let mut warnings = Vec::new();
        let created_now = existing.is_none();
        if let Some(f) = &existing {
            let current = f
                .configuration()
                .and_then(|c| c.architectures().first().cloned());
            progress.step(&format!(
                "uploading {} bytes (UpdateFunctionCode)",
                zip.len()
            ));
            // The code and the architecture change together (UpdateFunctionCode carries both).
            let mut update = || {
                c.lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(zip.clone()))
                    .architectures(lambda_arch.clone())
                    .send()
            };
            self.retry_conflict("lambda:UpdateFunctionCode", &mut update)
                .await?;
            if current.as_ref().is_some_and(|a| *a != lambda_arch) {
                warnings.push(format!(
                    "the function's architecture changed to {}",
                    arch.as_str()
                ));
            }
            durations.insert("upload".into(), t_upload.elapsed().as_millis() as u64);
            progress.step("waiting for the code update (LastUpdateStatus)");
            self.wait_ready(&c, "code update").await?;
        } else {
            let (role, role_created) = self.ensure_role(&c, progress).await?;
            progress.step(&format!(
                "creating the function {name} ({RUNTIME}, {}, {} MB, {} s)",
                arch.as_str(),
                self.s.memory_mb,
                self.s.timeout_seconds
            ));
            let start = Instant::now();
            loop {
                let r = c
                    .lambda
                    .create_function()
                    .function_name(name)
                    .runtime(Runtime::Providedal2023)
                    .handler("bootstrap")
                    .role(&role)
                    .code(
                        aws_sdk_lambda::types::FunctionCode::builder()
                            .zip_file(Blob::new(zip.clone()))
                            .build(),
                    )
                    .architectures(lambda_arch.clone())
                    .memory_size(self.s.memory_mb as i32)
                    .timeout(self.s.timeout_seconds as i32)
                    .description(format!("MCP server {name} {} (cargo-pmcp)", req.version))
                    .environment(self.environment(req, None))
                    .tags(CREATED_BY_TAG.0, CREATED_BY_TAG.1)
                    .send()
                    .await;
                match r {
                    Ok(_) => break,
                    // A role created seconds ago is not yet assumable (IAM is eventually
                    // consistent): Lambda says so with InvalidParameterValueException.
                    Err(e)
                        if role_created
                            && code(&e) == Some("InvalidParameterValueException")
                            && e.message().is_some_and(|m| m.contains("assume"))
                            && start.elapsed() < self.s.wait_timeout =>
                    {
                        progress.step("waiting for the new role to reach Lambda");
                        tokio::time::sleep(self.s.poll_interval.max(Duration::from_secs(1))).await;
                    }
                    Err(e) => return Err(aws_error("lambda:CreateFunction", e)),
                }
            }
            durations.insert("upload".into(), t_upload.elapsed().as_millis() as u64);
            progress.step("waiting for the function to be Active");
            self.wait_ready(&c, "new function").await?;
        }
        progress.step("Function URL and its permissions");
        let t_deploy = Instant::now();
        let base = self.ensure_url(&c).await?;
        let url = format!("{}/mcp", base.trim_end_matches('/'));
        progress.step(&format!(
            "configuring (memory, timeout, environment, {RESOURCE_URL_VAR}={url})"
        ));
        let role = if created_now {
            None
        } else {
            self.s.role_arn.clone()
        };
        let env = self.environment(req, Some(&url));
        self.retry_conflict("lambda:UpdateFunctionConfiguration", || {
            c.lambda
                .update_function_configuration()
                .function_name(name)
                .memory_size(self.s.memory_mb as i32)
                .timeout(self.s.timeout_seconds as i32)
                .set_role(role.clone())
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .environment(env.clone())
                .send()
        })
        .await?;
        self.wait_ready(&c, "configuration update").await?;
        durations.insert("deploy".into(), t_deploy.elapsed().as_millis() as u64);
        let arn = existing
            .as_ref()
            .and_then(|f| f.configuration())
            .and_then(|c| c.function_arn())
            .map(str::to_string);
        let arn = match arn {
            Some(a) => a,
            None => self
                .get_function(&c)
                .await?
                .and_then(|f| {
                    f.configuration()
                        .and_then(|c| c.function_arn())
                        .map(String::from)
                })
                .unwrap_or_else(|| name.clone()),
        };
        progress.done(&format!(
            "{} {name} in {}",
            if created_now { "created" } else { "updated" },
            c.region
        ));
        Ok(Deployed {
            deployment_id: Some(arn),
            url,
            health_url: Some(format!("{}/health", base.trim_end_matches('/'))),
            oauth: None,
            uploaded: true,
            durations_ms: durations,
            warnings,
        })
    }
}

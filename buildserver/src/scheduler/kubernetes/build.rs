//! Builds as Jobs (`--k8s-builds job`): each build is a Job in the app's namespace, from the
//! stack's build image, fed and read through an attach to its pod (see `build::remote`).

use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, PostParams};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{
    DeleteOnDrop, KubernetesScheduler, attach_gated, await_running, await_terminated, manifests,
};
use crate::build::remote::{Base64Writer, BuildJob, BuildJobs};
use crate::container::{Exit, Outcome};

#[async_trait::async_trait]
impl BuildJobs for KubernetesScheduler {
    async fn run(
        &self,
        job: &BuildJob,
        input: tokio::fs::File,
        output: tokio::fs::File,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<Outcome> {
        let app = job.app.name();
        self.prepare_namespace(app).await?;
        let namespace = manifests::namespace(app);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let name = format!("build-{}", job.id.to_lowercase());
        let object = manifests::build_job_object(job, &self.settings, &name);
        jobs.create(&PostParams::default(), &serde_json::from_value(object)?)
            .await
            .with_context(|| format!("cannot create job {name}"))?;
        // Also when the push goes away.
        let _job = DeleteOnDrop {
            api: jobs.clone(),
            name: name.clone(),
        };
        let _ = lines
            .send(format!(
                "-----> Building in job {name} (namespace {namespace})"
            ))
            .await;
        let within = Duration::from_secs(self.settings.progress_deadline_seconds.into());
        let built = async {
            let pod = job_pod(&pods, &job.id, within).await?;
            await_running(&pods, &pod, within).await?;
            attached(
                &pods,
                &pod,
                "build",
                within,
                job.timeout,
                (input, output),
                lines,
            )
            .await
        };
        // The Job's deletion (the app's `destroy` stops its push first; its namespace or Job
        // deleted by hand) ends the build at once: its pod would take its grace period to go,
        // and a pod not made yet never comes.
        tokio::select! {
            () = deleting(&jobs, &name) => {
                bail!("the build's Job {name} was deleted (its namespace deleted, or the Job) while it ran")
            }
            built = built => built,
        }
    }
}

/// Resolves once Job `name` is being deleted (or is gone); never if it cannot be watched (the
/// build's pod's own end still ends the build then). The Job, not the namespace: the
/// buildserver's role may watch Jobs, not namespaces.
async fn deleting(jobs: &Api<Job>, name: &str) {
    let deleted = |j: Option<&Job>| j.is_none_or(|j| j.metadata.deletion_timestamp.is_some());
    if kube::runtime::wait::await_condition(jobs.clone(), name, deleted)
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

/// Runs the gated command of running pod `pod` (its container `container`) through an attach:
/// `input` in (a build's packed directories, a backup to restore), its output (base64 on
/// stdout: a build's tar, a backup) decoded into `output`, stderr's lines to `lines`; the pod's
/// exit is the outcome, or [`Exit::TimedOut`] a minute past `timeout`.
pub(super) async fn attached(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    within: Duration,
    timeout: Duration,
    (input, output): (tokio::fs::File, tokio::fs::File),
    lines: mpsc::Sender<String>,
) -> anyhow::Result<Outcome> {
    let (_attached, streams) = attach_gated(pods, pod, container, false, within).await?;
    let (mut stdin, mut stdout, _tasks) = (streams.stdin, streams.stdout, streams.tasks);
    let stderr = streams.stderr.context("the pod's attach has no stderr")?;
    let feed = async move {
        let mut input = input;
        tokio::io::copy(&mut input, &mut stdin).await?;
        stdin.shutdown().await?;
        // Held open until the output is whole: the acknowledgement goes through it.
        Ok::<_, std::io::Error>(stdin)
    };
    let read = async move {
        let mut decoded = Base64Writer::new(std::io::BufWriter::new(output.into_std().await));
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            decoded.write(&chunk[..n])?;
        }
        decoded.finish().map(drop)
    };
    let say = async move {
        let mut stderr = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = stderr.next_line().await {
            let _ = lines.send(line).await;
        }
    };
    let streamed = async {
        let (fed, read, ()) = tokio::join!(feed, read, say);
        let _stdin = fed.with_context(|| format!("cannot send pod {pod} its input"))?;
        read.with_context(|| format!("cannot read pod {pod}'s output"))
    };
    // The pod may end without its output (killed, deleted with its namespace, its node gone),
    // and its attach may stay open: its end (or deletion) ends the build then.
    let ran = async {
        tokio::pin!(streamed);
        let ended = await_terminated(pods, pod);
        tokio::pin!(ended);
        tokio::select! {
            streamed = &mut streamed => {
                streamed?;
                ended.await
            }
            ended = &mut ended => {
                let outcome =
                    ended.with_context(|| format!("pod {pod} went away before it ended"))?;
                // Its last output may trail its end a little.
                match tokio::time::timeout(Duration::from_secs(10), streamed).await {
                    Ok(streamed) => streamed.map(|()| outcome),
                    Err(_) if outcome.exit != Exit::Code(0) => Ok(outcome),
                    Err(_) => bail!("pod {pod} ended before all its output arrived"),
                }
            }
        }
    };
    match tokio::time::timeout(timeout + Duration::from_secs(60), ran).await {
        Ok(outcome) => outcome,
        Err(_) => Ok(Outcome {
            exit: Exit::TimedOut,
            oom_killed: false,
        }),
    }
}

/// The pod of build `id`'s Job, once the Job controller has made it (within `within`).
async fn job_pod(pods: &Api<Pod>, id: &str, within: Duration) -> anyhow::Result<String> {
    let selector = ListParams::default().labels(&format!("{}={id}", manifests::BUILD));
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let listed = pods
            .list(&selector)
            .await
            .context("cannot list the build's pod")?;
        if let Some(name) = listed.items.into_iter().find_map(|p| p.metadata.name) {
            return Ok(name);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the build's job made no pod within {}s (a quota, or no room on the nodes?)",
                within.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

//! `ferry k8s`: the Kubernetes manifests of `deploy/kubernetes/` for one sharded run,
//! with its name, shard count, image and job file filled in.

use std::path::PathBuf;

use clap::Args;
use ferry_core::{Error, Result};

/// `ferry k8s`.
#[derive(Debug, Args)]
pub(crate) struct K8sArgs {
    /// The run's name: the objects are ferry-NAME-shards, ferry-NAME-coordinator,
    /// ferry-NAME-job, ferry-NAME-catalog and ferry-NAME-state (lowercase letters,
    /// digits and -).
    #[arg(long)]
    name: String,
    /// Shard pods (completions and parallelism of the Indexed Job, --shards of the
    /// coordinator).
    #[arg(long, value_name = "N")]
    shards: usize,
    /// The ferry image the pods run (built from the repository's Dockerfile).
    #[arg(long)]
    image: String,
    /// The job file to put in the ConfigMap (default: the example job).
    #[arg(long, value_name = "FILE")]
    job: Option<PathBuf>,
    /// Write one file per object into this folder instead of one YAML stream to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// The commented manifests, in the order they are applied.
const MANIFESTS: &[(&str, &str)] = &[
    (
        "state-pvc.yaml",
        include_str!("../../../deploy/kubernetes/state-pvc.yaml"),
    ),
    (
        "secret.yaml",
        include_str!("../../../deploy/kubernetes/secret.yaml"),
    ),
    (
        "configmap.yaml",
        include_str!("../../../deploy/kubernetes/configmap.yaml"),
    ),
    (
        "coordinator.yaml",
        include_str!("../../../deploy/kubernetes/coordinator.yaml"),
    ),
    (
        "shards.yaml",
        include_str!("../../../deploy/kubernetes/shards.yaml"),
    ),
];

/// One manifest with the run's values in, its comments (which describe the example)
/// left out.
fn render(text: &str, name: &str, shards: usize, image: &str, job: Option<&str>) -> String {
    let mut out = String::new();
    let mut after_shards_flag = false;
    let mut in_job = false;
    // the shards' Indexed Job has one pod per shard; the coordinator's Job one pod
    let indexed = text.contains("completionMode: Indexed");
    for line in text.lines() {
        let trimmed = line.trim_start();
        if in_job {
            // the job file's block: indented under `job.json: |`
            if line.is_empty() || line.starts_with("    ") {
                continue;
            }
            in_job = false;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let mut l = line
            .replace("ferry-person", &format!("ferry-{name}"))
            .replace("REGISTRY/ferry:TAG", image);
        if after_shards_flag && trimmed.starts_with("- ") {
            let indent = &line[..line.len() - trimmed.len()];
            l = format!("{indent}- \"{shards}\"");
            after_shards_flag = false;
        }
        for key in ["completions:", "parallelism:"] {
            if indexed && trimmed.starts_with(key) {
                let indent = &line[..line.len() - trimmed.len()];
                l = format!("{indent}{key} {shards}");
            }
        }
        if trimmed == "- --shards" {
            after_shards_flag = true;
        }
        out.push_str(&l);
        out.push('\n');
        if let (Some(job), "job.json: |") = (job, trimmed) {
            for jl in job.lines() {
                if jl.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str("    ");
                    out.push_str(jl);
                    out.push('\n');
                }
            }
            in_job = true;
        }
    }
    out
}

pub(crate) fn cmd(a: K8sArgs) -> Result<i32> {
    let ok_name = !a.name.is_empty()
        && a.name.len() <= 40
        && a.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !a.name.starts_with('-')
        && !a.name.ends_with('-');
    if !ok_name {
        return Err(Error::config(format!(
            "--name {}: use lowercase letters, digits and -, at most 40 characters (it names Kubernetes objects)",
            a.name
        )));
    }
    if a.shards == 0 {
        return Err(Error::config("--shards: give 1 or more"));
    }
    let job = match &a.job {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| Error::io(format!("reading {}", p.display()), e))?,
        ),
        None => None,
    };
    let rendered: Vec<(&str, String)> = MANIFESTS
        .iter()
        .map(|(file, text)| {
            (
                *file,
                render(text, &a.name, a.shards, &a.image, job.as_deref()),
            )
        })
        .collect();
    match &a.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            for (file, text) in &rendered {
                let path = dir.join(file);
                std::fs::write(&path, text)
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                println!("{}", path.display());
            }
        }
        None => {
            let docs: Vec<&str> = rendered.iter().map(|(_, t)| t.trim_end()).collect();
            println!("{}", docs.join("\n---\n"));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_s_values_replace_the_example_s() {
        let text = "# a comment\nspec:\n  completionMode: Indexed\n  completions: 4\n  parallelism: 4\n  args:\n    - --shards\n    # n\n    - \"4\"\n    - --shard-attempts\n    - \"4\"\n  image: REGISTRY/ferry:TAG\n  name: ferry-person-shards\ndata:\n  job.json: |\n    {\"old\": 1}\n\n    {}\nkind: X\n";
        let r = render(text, "big", 8, "reg/ferry:1", Some("{\n  \"new\": 2\n}"));
        assert!(!r.contains('#'), "{r}");
        assert!(
            r.contains("completions: 8") && r.contains("parallelism: 8"),
            "{r}"
        );
        assert!(
            r.contains("- --shards\n    - \"8\"\n    - --shard-attempts\n    - \"4\""),
            "{r}"
        );
        assert!(
            r.contains("image: reg/ferry:1") && r.contains("name: ferry-big-shards"),
            "{r}"
        );
        assert!(
            r.contains("job.json: |\n    {\n      \"new\": 2\n    }\nkind: X"),
            "{r}"
        );
    }
}

#!/usr/bin/env bash
# Validate the Kubernetes manifests OFFLINE against the Kubernetes API schema, then check
# that the sharded run's manifests agree with one another.
#
#   scripts/k8s-validate.sh [DIR]      DIR: default deploy/kubernetes (every *.yaml / *.yml
#                                      under it, recursively)
#
# Schema: the PyPI package kubernetes-validate, which ships the Kubernetes JSON schemas
# (no cluster, no network once installed). Strict mode: a field the schema does not know
# (a typo such as `completion:`) is an error, as `kubectl apply` would reject it. Also
# errors: a YAML file that does not parse, a duplicate key, a kind/apiVersion with no
# schema (the tool itself only warns about those), a document without kind or name.
#
# Then, across files: the shard Job (completionMode: Indexed) and the coordinator Job
# (`ferry coordinate`) must agree on the shard count (completions = parallelism =
# --shards; a mismatch stalls the run until --timeout), on --state and on the job file,
# and --shard-attempts must be backoffLimitPerIndex + 1.
#
# Environment: K8S_VERSION (default 1.30.0), the Kubernetes version whose schema is used.
# Exit status: 0 when everything is valid, 1 otherwise (each problem is printed with its file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../deploy/kubernetes}
k8s_version=${K8S_VERSION:-1.30.0}

if [ ! -d "$dir" ]; then
  echo "k8s-validate: $dir is not a directory" >&2
  exit 1
fi

# The project's Python venv (scripts/pyenv.sh creates it once and prints its python).
py=$("$(dirname "$0")/pyenv.sh")
if ! "$py" -c 'import kubernetes_validate' 2>/dev/null; then
  echo "k8s-validate: installing kubernetes-validate into the project venv" >&2
  "$py" -m pip install -q kubernetes-validate
fi

exec "$py" - "$dir" "$k8s_version" <<'PY'
import os
import sys

import yaml
import kubernetes_validate
from kubernetes_validate import utils
from kubernetes_validate.version import __version__ as kv_version

root, k8s = sys.argv[1], sys.argv[2]
problems = []  # (file, message)


def show(path):
    """A path as the user would type it: relative to the current directory when inside it."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel



def problem(path, msg):
    problems.append((path, msg))
    print(f"FAIL {path}: {msg}")


class Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML keeps the last one silently;
    kubectl's strict decoding rejects them)."""


def construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)

files = []
for d, subdirs, names in os.walk(root):
    subdirs.sort()
    files += [os.path.join(d, n) for n in sorted(names) if n.endswith((".yaml", ".yml"))]
if not files:
    print(f"FAIL {show(root)}: no *.yaml or *.yml file")
    sys.exit(1)

resources = []  # (file, resource)
for path in files:
    rel = show(path)
    try:
        with open(path) as f:
            docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]
    except yaml.YAMLError as e:
        problem(rel, f"not valid YAML: {e}")
        continue
    if not docs:
        problem(rel, "no Kubernetes object in the file")
        continue
    ok = True
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") \
                or not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
            problem(rel, "a document without apiVersion, kind or metadata.name")
            ok = False
            continue
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            utils.validate(doc, k8s, strict=True)
        except utils.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(top level)"
            problem(rel, f"{what}: {where}: {e.message}")
            ok = False
        except utils.SchemaNotFoundError as e:
            problem(rel, f"{what}: {e.message}")
            ok = False
        except utils.VersionNotSupportedError:
            print(f"FATAL kubernetes-validate {kv_version} has no schema for Kubernetes {k8s}")
            sys.exit(2)
        except Exception as e:  # noqa: BLE001 - report anything else per file
            problem(rel, f"{what}: could not be validated: {e}")
            ok = False
        resources.append((rel, doc))
    if ok:
        kinds = ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
        print(f"ok   {rel}: {kinds}")


# --- the sharded run: the shard Job and the coordinator Job must agree -----------------

def container_args(job):
    spec = (((job.get("spec") or {}).get("template") or {}).get("spec") or {})
    for c in spec.get("containers") or []:
        argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        if argv and os.path.basename(argv[0]) == "ferry":
            argv = argv[1:]
        if argv:
            return argv
    return []


def flag(argv, name):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def positional(argv):
    """The job file: the first argument after the subcommand that is not a flag or a
    flag's value (every flag used here takes a value)."""
    i = 1
    while i < len(argv):
        if argv[i].startswith("--"):
            i += 1 if "=" in argv[i] else 2
            continue
        return argv[i]
    return None


def as_int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


jobs = [(f, r) for f, r in resources if r.get("kind") == "Job"]
shards = [(f, r) for f, r in jobs if (r.get("spec") or {}).get("completionMode") == "Indexed"]
coords = [(f, r) for f, r in jobs if container_args(r)[:1] == ["coordinate"]]


def instance(r):
    return ((r.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/instance", "")


pairs = 0
if not shards and not coords:
    problem(show(root), "no shard Job (completionMode: Indexed) and no coordinator "
            "Job (`ferry coordinate`) found")
for sf, s in shards:
    matching = [(cf, c) for cf, c in coords if instance(c) == instance(s)]
    if len(matching) != 1:
        problem(sf, f"Job/{s['metadata']['name']}: expected one coordinator Job with "
                f"app.kubernetes.io/instance: {instance(s)!r}, found {len(matching)}")
        continue
    cf, c = matching[0]
    pairs += 1
    sspec, sargs, cargs = s["spec"], container_args(s), container_args(c)
    n = as_int(flag(cargs, "--shards"))
    completions, parallelism = sspec.get("completions"), sspec.get("parallelism")
    if n is None:
        problem(cf, "the coordinator has no --shards N")
    elif completions != n or parallelism != n:
        problem(sf, f"completions ({completions}) and parallelism ({parallelism}) must both "
                f"equal --shards ({n}) in {cf}: otherwise some splits are never staged and "
                "the run stalls until the coordinator's --timeout")
    if sargs[:1] != ["run"]:
        problem(sf, f"the shard container should run `ferry run`, not {sargs[:1]}")
    if flag(sargs, "--shard") is not None:
        problem(sf, "--shard is given: every pod would run the same shard; leave it out so "
                "ferry takes JOB_COMPLETION_INDEX")
    ss, cs = flag(sargs, "--state"), flag(cargs, "--state")
    if not ss or ss != cs:
        problem(sf, f"--state {ss} here but --state {cs} in {cf}: the shards must see the "
                "coordinator's plan")
    sj, cj = positional(sargs), positional(cargs)
    if not sj or sj != cj:
        problem(sf, f"job file {sj} here but {cj} in {cf}")
    attempts = as_int(flag(sargs, "--shard-attempts")) or 1
    per_index = sspec.get("backoffLimitPerIndex")
    if per_index is None:
        problem(sf, "no backoffLimitPerIndex: retries would come from the Job-wide "
                "backoffLimit, shared by all shards")
    elif attempts != per_index + 1:
        problem(sf, f"--shard-attempts ({attempts}) must be backoffLimitPerIndex + 1 "
                f"({per_index + 1}): each pod Kubernetes starts for an index is one attempt, and "
                "ferry must record that it gave up on the last one, or the coordinator waits "
                "for its --timeout")
for cf, c in coords:
    if not any(instance(s) == instance(c) for _, s in shards):
        problem(cf, f"Job/{c['metadata']['name']}: no shard Job (completionMode: Indexed) with "
                f"app.kubernetes.io/instance: {instance(c)!r}")
    if (c.get("spec") or {}).get("backoffLimit") != 0:
        problem(cf, "the coordinator Job needs backoffLimit: 0 (a retried coordinator cannot "
                "plan over its own plan)")

if problems:
    print(f"k8s-validate: {len(problems)} problem(s) in {show(root)} "
          f"(kubernetes-validate {kv_version}, Kubernetes {k8s} schema, strict)")
    sys.exit(1)
print(f"k8s-validate: {len(files)} files, {len(resources)} objects valid against the "
      f"Kubernetes {k8s} schema (kubernetes-validate {kv_version}, strict); "
      f"{pairs} shard/coordinator pair(s) agree")
PY

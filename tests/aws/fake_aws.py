"""moto + the fault proxy = a fake AWS that behaves like the real lifecycle where moto does not.

moto (no-Docker Batch) finishes jobs inside SubmitJob and SageMaker jobs at once, and lacks
StopTrainingJob. The proxy keeps an *overlay* of native states: a job we submit starts
SUBMITTED (Batch) / InProgress-Starting (SageMaker) and only moves when a test says so —
``set_state``, ``execute`` (runs the unit's real command + env as a local subprocess and writes its
output to CloudWatch Logs in moto; a Batch job gets its job definition's ``secrets`` from moto's
Secrets Manager / SSM as Batch's agent would), cancel/terminate/stop as AWS would, and ``settle``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from flowyml.plugins.types import RunHandle
from tests.aws.fault_proxy import FaultProxy, Reply, Request, error_reply

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"
NOT_STARTED = {"SUBMITTED", "PENDING", "RUNNABLE"}
OPERATIONS = {
    "submit": ["SubmitJob", "CreateTrainingJob", "CreatePipeline", "StartPipelineExecution"],
    "status": ["DescribeJobs", "DescribeTrainingJob", "DescribePipelineExecution", "ListPipelineExecutionSteps"],
    "cancel": ["CancelJob", "TerminateJob", "TagResource", "StopTrainingJob", "AddTags", "StopPipelineExecution"],
    "logs": ["GetLogEvents", "DescribeLogStreams", "ListPipelineExecutionSteps"],
}


_JSON = {"Content-Type": "application/x-amz-json-1.1"}


def direct_client(service: str, endpoint: str) -> Any:
    cfg = Config(
        region_name=REGION, retries={"mode": "standard", "total_max_attempts": 2}, s3={"addressing_style": "path"}
    )
    return boto3.client(service, endpoint_url=endpoint, config=cfg)


class AwsFake:
    """The knobs the tests (and the conformance kit) turn on the fake."""

    def __init__(self, moto_endpoint: str, proxy: FaultProxy) -> None:
        self.moto = moto_endpoint
        self.proxy = proxy
        self.batch_state: dict[str, dict[str, Any]] = {}  # job id -> overlay
        self.batch_requests: dict[str, dict] = {}  # job id -> SubmitJob body
        self.sm_state: dict[str, dict[str, Any]] = {}  # training job name -> overlay
        self.sm_requests: dict[str, dict] = {}
        self.sm_auto: set[str] = set()  # training jobs to execute as soon as they are created
        self.pipelines: dict[str, dict] = {}  # pipeline name -> its definition, as CreatePipeline received it
        self.executions: dict[str, dict[str, Any]] = {}  # execution ARN -> overlay (status, steps, pipeline)
        self.tokens: dict[tuple[str, str], str] = {}  # (pipeline, ClientRequestToken) -> execution ARN
        self.threads: list[threading.Thread] = []
        self.lose_answers = 0  # creates performed whose answers are then "lost" (5xx after the fact)
        self.inject_secrets = True  # Batch sets the job definition's `secrets` in the container (False: it fails to)
        self.job_env: dict[str, str] = {}  # extra environment of every job process (e.g. endpoints it cannot reach)
        self.batch_retries = False  # a failed Batch attempt is run again while its retryStrategy allows (as Batch does)
        self.lock = threading.RLock()
        self.batch = direct_client("batch", moto_endpoint)
        self.sm = direct_client("sagemaker", moto_endpoint)
        self.logs = direct_client("logs", moto_endpoint)
        self._install_rules()

    # -- proxy rules ---------------------------------------------------------------------------
    def _install_rules(self) -> None:
        p = self.proxy
        p.add_rule("SubmitJob", self._on_submit)
        p.add_rule("DescribeJobs", self._on_describe_jobs)
        p.add_rule("CancelJob", lambda req, fwd: self._on_stop_batch(req, fwd, terminate=False))
        p.add_rule("TerminateJob", lambda req, fwd: self._on_stop_batch(req, fwd, terminate=True))
        p.add_rule("CreateTrainingJob", self._on_create_training)
        p.add_rule("DescribeTrainingJob", self._on_describe_training)
        p.add_rule("StopTrainingJob", self._on_stop_training)
        p.add_rule("CreatePipeline", self._on_put_pipeline)
        p.add_rule("UpdatePipeline", self._on_put_pipeline)
        p.add_rule("StartPipelineExecution", self._on_start_execution)
        p.add_rule("DescribePipelineExecution", self._on_describe_execution)
        p.add_rule("ListPipelineExecutionSteps", self._on_list_steps)
        p.add_rule("StopPipelineExecution", self._on_stop_execution)

    # -- SageMaker Pipelines: moto stores pipelines and executions but runs no step, lacks
    # ListPipelineExecutionSteps and StopPipelineExecution, and ignores ClientRequestToken.
    def _on_put_pipeline(self, req: Request, forward: Any) -> Reply:
        reply = forward()
        if reply.status == 200:
            body = req.json()
            with self.lock:
                self.pipelines[body["PipelineName"]] = json.loads(body["PipelineDefinition"])
            if req.action == "createpipeline":
                return self._maybe_lose(req, reply)
        return reply

    def _on_start_execution(self, req: Request, forward: Any) -> Reply:
        body = req.json()
        key = (body["PipelineName"], body.get("ClientRequestToken", ""))
        with self.lock:
            if key[1] and key in self.tokens:  # idempotent, as SageMaker is
                return Reply(200, _JSON, json.dumps({"PipelineExecutionArn": self.tokens[key]}).encode())
        reply = forward()
        if reply.status != 200:
            return reply
        arn = reply.json()["PipelineExecutionArn"]
        with self.lock:
            self.tokens[key] = arn
            parameters = {p["Name"]: p["Value"] for p in body.get("PipelineParameters") or []}
            self.executions[arn] = {
                "status": "Executing",
                "steps": {},
                "pipeline": body["PipelineName"],
                "parameters": parameters,
            }
            auto = body["PipelineName"] in self.sm_auto
        if auto:
            self._start_thread(self._run_execution, arn)
        return self._maybe_lose(req, reply)

    def _on_describe_execution(self, req: Request, forward: Any) -> Reply:
        reply = forward()
        with self.lock:
            over = self.executions.get(req.json()["PipelineExecutionArn"])
            if reply.status != 200 or over is None:
                return reply
            doc = reply.json()
            doc["PipelineExecutionStatus"] = over["status"]
            doc["FailureReason"] = over.get("reason") or ""
        return reply.with_json(doc)

    def _on_list_steps(self, req: Request, forward: Any) -> Reply:
        body = req.json()
        with self.lock:
            over = self.executions.get(body["PipelineExecutionArn"])
            if over is None:
                return error_reply(req, 400, "ValidationException", "Pipeline execution does not exist")
            steps = sorted(over["steps"].values(), key=lambda s: s["StartTime"])
        if body.get("SortOrder", "Descending") == "Descending":
            steps.reverse()
        return Reply(200, _JSON, json.dumps({"PipelineExecutionSteps": steps}).encode())

    def _on_stop_execution(self, req: Request, forward: Any) -> Reply:
        arn = req.json()["PipelineExecutionArn"]
        with self.lock:
            over = self.executions.get(arn)
            if over is None:
                return error_reply(req, 400, "ValidationException", "Pipeline execution does not exist")
            if over["status"] == "Executing":
                over["status"] = "Stopping"
                for step in over["steps"].values():
                    if step["StepStatus"] in ("Starting", "Executing"):
                        step["StepStatus"] = "Stopping"
        return Reply(200, _JSON, json.dumps({"PipelineExecutionArn": arn}).encode())

    def _run_execution(self, arn: str) -> None:
        """Run the execution's steps in DependsOn order, each as a training job whose entrypoint and
        environment run as a local subprocess; a failed step fails the execution, its dependants never start."""
        with self.lock:
            over = self.executions[arn]
            if over.get("ran"):
                return
            over["ran"] = True
            steps = self.pipelines[over["pipeline"]]["Steps"]
        done: dict[str, str] = {}
        pending = list(steps)
        while pending:
            ready = [s for s in pending if all(d in done for d in s.get("DependsOn", []))]
            step = ready[0]
            pending.remove(step)
            with self.lock:
                if over["status"] != "Executing":
                    return
            if any(done[d] != "Succeeded" for d in step.get("DependsOn", [])):
                done[step["Name"]] = "NotStarted"
                continue
            job = f"pipelines-{arn.rsplit('/', 1)[-1]}-{step['Name']}-{len(done):04d}"[:63].rstrip("-")
            args = resolve_parameters(step["Arguments"], over.get("parameters") or {})
            self.sm.create_training_job(TrainingJobName=job, **args)
            job_arn = self.sm.describe_training_job(TrainingJobName=job)["TrainingJobArn"]
            with self.lock:
                over["steps"][step["Name"]] = {
                    "StepName": step["Name"],
                    "StepStatus": "Executing",
                    "StartTime": time.time(),
                    "Metadata": {"TrainingJob": {"Arn": job_arn}},
                }
            code, lines = self._run_command(args["AlgorithmSpecification"]["ContainerEntrypoint"], args["Environment"])
            self._write_logs("/aws/sagemaker/TrainingJobs", f"{job}/algo-1-{int(time.time())}", lines)
            with self.lock:
                record = over["steps"][step["Name"]]
                record["EndTime"] = time.time()
                if record["StepStatus"] == "Stopping":
                    record["StepStatus"] = "Stopped"
                elif code == 0:
                    record["StepStatus"] = "Succeeded"
                else:
                    record.update(StepStatus="Failed", FailureReason=f"AlgorithmError: exit code {code}: {lines[-1:]}")
                done[step["Name"]] = record["StepStatus"]
                if record["StepStatus"] == "Failed":
                    over.update(status="Failed", reason="Step failure: One or multiple steps failed.")
                    return
        with self.lock:
            if over["status"] == "Executing":
                over["status"] = "Succeeded"

    def _on_submit(self, req: Request, forward: Any) -> Reply:
        reply = forward()
        if reply.status == 200:
            job_id = reply.json()["jobId"]
            with self.lock:
                self.batch_requests[job_id] = req.json()
                self.batch_state[job_id] = {"status": "SUBMITTED"}
            return self._maybe_lose(req, reply)
        return reply

    def _maybe_lose(self, req: Request, reply: Reply) -> Reply:
        with self.lock:
            if self.lose_answers <= 0:
                return reply
            self.lose_answers -= 1
        return error_reply(req, 500, "InternalFailure", "the answer was lost after the create happened")

    def _on_describe_jobs(self, req: Request, forward: Any) -> Reply:
        if len(req.json().get("jobs", [])) > 100:  # AWS's limit, which moto does not enforce
            return error_reply(req, 400, "ClientException", "jobs: at most 100 items")
        reply = forward()
        if reply.status != 200:
            return reply
        doc = reply.json()
        with self.lock:
            for job in doc.get("jobs", []):
                over = self.batch_state.get(job["jobId"])
                if over is None:
                    continue
                job["status"] = over["status"]
                for key in ("statusReason", "startedAt", "stoppedAt"):
                    if key in over:
                        job[key] = over[key]
                    else:
                        job.pop(key, None)
                container = job.setdefault("container", {})
                if "exitCode" in over:
                    container["exitCode"] = over["exitCode"]
                else:
                    container.pop("exitCode", None)
        return reply.with_json(doc)

    def _on_stop_batch(self, req: Request, forward: Any, terminate: bool) -> Reply:
        reply = forward()
        body = req.json()
        with self.lock:
            over = self.batch_state.get(body["jobId"])
            if over is not None and reply.status == 200:
                if over["status"] in NOT_STARTED:
                    self._fail_batch(body["jobId"], body.get("reason", ""))
                elif terminate and over["status"] in ("STARTING", "RUNNING"):
                    over["terminating"] = body.get("reason", "")
        return reply

    def _fail_batch(self, job_id: str, reason: str, exit_code: int | None = None) -> None:
        over = self.batch_state[job_id]
        over.update(status="FAILED", statusReason=reason, stoppedAt=int(time.time() * 1000))
        if exit_code is not None:
            over["exitCode"] = exit_code
        for other, request in self.batch_requests.items():  # dependants of a failed job fail too
            deps = [d["jobId"] for d in request.get("dependsOn", [])]
            if job_id in deps and self.batch_state.get(other, {}).get("status") in NOT_STARTED:
                self._fail_batch(other, f"Dependent Job failed: {job_id}")

    def _on_create_training(self, req: Request, forward: Any) -> Reply:
        reply = forward()
        if reply.status == 200:
            body = req.json()
            name = body["TrainingJobName"]
            with self.lock:
                self.sm_requests[name] = body
                self.sm_state[name] = {"status": "InProgress", "secondary": "Starting"}
                auto = name in self.sm_auto
            if auto:
                self._start_thread(self._run_training, name)
            return self._maybe_lose(req, reply)
        return reply

    def _on_describe_training(self, req: Request, forward: Any) -> Reply:
        reply = forward()
        name = req.json().get("TrainingJobName")
        with self.lock:
            over = self.sm_state.get(name)
            if reply.status != 200 or over is None:
                return reply
            doc = reply.json()
            doc["TrainingJobStatus"] = over["status"]
            if over.get("secondary"):
                doc["SecondaryStatus"] = over["secondary"]
            else:
                doc.pop("SecondaryStatus", None)
            if over.get("reason"):
                doc["FailureReason"] = over["reason"]
            else:
                doc.pop("FailureReason", None)
        return reply.with_json(doc)

    def _on_stop_training(self, req: Request, forward: Any) -> Reply:
        name = req.json()["TrainingJobName"]
        with self.lock:
            over = self.sm_state.get(name)
            if over is None:
                return error_reply(req, 400, "ValidationException", f"Requested resource not found: {name}")
            if over["status"] == "InProgress":
                over.update(status="Stopping", secondary="Stopping")
        return Reply(200, {"Content-Type": "application/x-amz-json-1.1"}, b"{}")

    # -- knobs for tests -----------------------------------------------------------------------
    def set_state(self, handle: RunHandle, state: str, reason: str | None = None) -> None:
        """Force every unit of the run into a native state (``Primary/Secondary`` for SageMaker)."""
        with self.lock:
            if handle.backend == "aws_batch":
                for job_id in handle.units.values():
                    over = self.batch_state.setdefault(job_id, {})
                    over.clear()
                    over["status"] = state
                    if state not in NOT_STARTED:
                        over["startedAt"] = int(time.time() * 1000) - 1000
                    if state == "FAILED":
                        over.update(statusReason=reason or "Essential container in task exited", exitCode=1)
                    if state == "SUCCEEDED":
                        over["exitCode"] = 0
                return
            if handle.metadata.get("mode") == "pipeline":
                over = self.executions[handle.job_id]
                over["status"] = state.removeprefix("Pipeline/")
                over["reason"] = reason or ("Step failure" if over["status"] == "Failed" else None)
                return
            for name in handle.units.values():
                primary, _, secondary = state.partition("/")
                self.sm_state[name] = {
                    "status": primary,
                    "secondary": secondary or None,
                    "reason": reason or ("AlgorithmError: exit code 1" if primary == "Failed" else None),
                }

    def settle(self, handle: RunHandle) -> None:
        """Let pending transitions finish: terminating Batch jobs FAIL, Stopping training jobs stop."""
        with self.lock:
            for job_id in handle.units.values():
                over = self.batch_state.get(job_id)
                if over and over.get("terminating") is not None and over["status"] in ("STARTING", "RUNNING"):
                    self._fail_batch(job_id, over.pop("terminating"), exit_code=143)
                sm = self.sm_state.get(job_id)
                if sm and sm["status"] == "Stopping":
                    sm.update(status="Stopped", secondary="Stopped")
            execution = self.executions.get(handle.job_id)
            if execution and execution["status"] == "Stopping":
                execution["status"] = "Stopped"
                for step in execution["steps"].values():
                    if step["StepStatus"] == "Stopping":
                        step["StepStatus"] = "Stopped"

    @contextlib.contextmanager
    def faults(
        self, operation: str, count: int, status: int = 400, code: str = "ThrottlingException"
    ) -> Iterator[None]:
        entry = self.proxy.fail(OPERATIONS[operation], count, status=status, code=code)
        try:
            yield
        finally:
            self.proxy.drop_fault(entry)

    @contextlib.contextmanager
    def lose_create_answers(self, count: int) -> Iterator[None]:
        with self.lock:
            self.lose_answers = count
        try:
            yield
        finally:
            with self.lock:
                self.lose_answers = 0

    def count_creates(self, handle: RunHandle) -> int:
        names = set(handle.units.values())
        prefix = f"flowyml-{handle.run_id}-"
        batch = [c for c in self.proxy.sent("SubmitJob", injected=False) if c.json()["jobName"].startswith(prefix)]
        sm = [c for c in self.proxy.sent("CreateTrainingJob", injected=False) if c.json()["TrainingJobName"] in names]
        pipeline = handle.metadata.get("pipeline_name")
        with self.lock:
            executions = [e for e in self.executions.values() if e["pipeline"] == pipeline]
        return len(batch) + len(sm) + len(executions)

    # -- execution -----------------------------------------------------------------------------
    def execute(self, handle: RunHandle) -> None:
        """Run the submitted units as local subprocesses in dependency order (images are ignored)."""
        if handle.backend == "aws_batch":
            barriers = handle.metadata.get("barriers") or {}
            for unit, job_id in handle.units.items():  # handles keep the units in dependency order
                for barrier in barriers.get(unit, []):
                    self._run_batch(barrier)
                self._run_batch(job_id)
            return
        if handle.metadata.get("mode") == "pipeline":
            self._run_execution(handle.job_id)
            return
        with self.lock:
            self.sm_auto.update(handle.units.values())
            created = [n for n in handle.units.values() if n in self.sm_requests]
        for name in created:
            if self.sm_state[name]["status"] == "InProgress" and not self.sm_state[name].get("ran"):
                self._run_training(name)

    def _start_thread(self, fn: Any, *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run_batch(self, job_id: str) -> None:
        request = self.batch_requests[job_id]
        with self.lock:
            over = self.batch_state[job_id]
            if over["status"] not in NOT_STARTED:
                return
            for dep in request.get("dependsOn", []):
                if self.batch_state.get(dep["jobId"], {}).get("status") != "SUCCEEDED":
                    self._fail_batch(job_id, f"Dependent Job failed: {dep['jobId']}")
                    return
            over.update(status="RUNNING", startedAt=int(time.time() * 1000))
        overrides = request["containerOverrides"]
        env = {e["name"]: e["value"] for e in overrides.get("environment", [])}
        try:  # as the ECS agent does with the execution role, before the container starts
            if self.inject_secrets:
                env.update(self._batch_secrets(request["jobDefinition"]))
        except Exception as exc:
            with self.lock:
                self._fail_batch(job_id, f"ResourceInitializationError: unable to pull secrets or registry auth: {exc}")
            return
        stream = self.batch.describe_jobs(jobs=[job_id])["jobs"][0]["container"]["logStreamName"]
        attempts = int((request.get("retryStrategy") or {}).get("attempts") or 1) if self.batch_retries else 1
        for attempt in range(attempts):  # Batch sets these in every container; the job id is kept across attempts
            env.update(AWS_BATCH_JOB_ID=job_id, AWS_BATCH_JOB_ATTEMPT=str(attempt + 1))
            code, lines = self._run_command(overrides["command"], env)
            self._write_logs("/aws/batch/job", stream, lines)
            if code == 0:
                break
        with self.lock:
            if code == 0:
                over.update(
                    status="SUCCEEDED",
                    exitCode=0,
                    stoppedAt=int(time.time() * 1000),
                    statusReason="Essential container in task exited",
                )
            else:
                self._fail_batch(job_id, "Essential container in task exited", exit_code=code)

    def _batch_secrets(self, definition: str) -> dict[str, str]:
        """The job definition's ``secrets`` read from moto's Secrets Manager / SSM, as Batch injects them:
        ``valueFrom`` a secret ARN (``:json-key:version-stage:version-id`` optional), else an SSM parameter."""
        name, _, revision = definition.rpartition(":")
        docs = self.batch.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
        doc = next(d for d in docs if str(d["revision"]) == revision)
        values: dict[str, str] = {}
        for entry in (doc.get("containerProperties") or {}).get("secrets") or []:
            source = entry["valueFrom"]
            if source.startswith("arn:aws:secretsmanager:"):
                parts = source.split(":")
                arn, extra = ":".join(parts[:7]), parts[7:]
                key, stage, version = [*extra, "", "", ""][:3]
                kwargs = {"SecretId": arn, **({"VersionStage": stage} if stage else {})}
                kwargs.update({"VersionId": version} if version else {})
                text = direct_client("secretsmanager", self.moto).get_secret_value(**kwargs)["SecretString"]
                values[entry["name"]] = str(json.loads(text)[key]) if key else text
            else:
                param = source
                if source.startswith("arn:"):  # ...:parameter/prod/token is /prod/token, ...:parameter/token is token
                    rest = source.split(":parameter/", 1)[1]
                    param = f"/{rest}" if "/" in rest else rest
                answer = direct_client("ssm", self.moto).get_parameter(Name=param, WithDecryption=True)
                values[entry["name"]] = answer["Parameter"]["Value"]
        return values

    def _run_training(self, name: str) -> None:
        with self.lock:
            over = self.sm_state[name]
            if over.get("ran") or over["status"] != "InProgress":
                return
            over.update(ran=True, secondary="Training")
            request = self.sm_requests[name]
        code, lines = self._run_command(
            request["AlgorithmSpecification"]["ContainerEntrypoint"], request.get("Environment", {})
        )
        self._write_logs("/aws/sagemaker/TrainingJobs", f"{name}/algo-1-{int(time.time())}", lines)
        with self.lock:
            if code == 0:
                over.update(status="Completed", secondary="Completed")
            else:
                over.update(
                    status="Failed", secondary="Failed", reason=f"AlgorithmError: exit code {code}: {lines[-1:]}"
                )

    def _run_command(self, command: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
        # a container inherits no flowyml settings and no AWS region: what it needs must be in what we sent
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWYML_")}
        full_env = {k: v for k, v in inherited.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        full_env.update(FLOWYML_HOME=os.environ.get("FLOWYML_HOME", ""), AWS_ENDPOINT_URL=self.moto)
        full_env.update(self.job_env)
        full_env.update(env)
        full_env["PATH"] = f"{VENV_BIN}{os.pathsep}{full_env.get('PATH', '')}"
        proc = subprocess.run(command, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=180)
        lines = (proc.stdout + proc.stderr).splitlines()
        return proc.returncode, lines

    def _write_logs(self, group: str, stream: str, lines: list[str]) -> None:
        for create, kwargs in (
            (self.logs.create_log_group, {"logGroupName": group}),
            (self.logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
        ):
            try:
                create(**kwargs)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                continue
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in lines if line.strip()]
        if events:
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)


def resolve_parameters(value: Any, parameters: dict[str, str]) -> Any:
    """A step's arguments with ``{"Get": "Parameters.X"}`` replaced by the execution's value, as SageMaker does."""
    if isinstance(value, dict):
        ref = value.get("Get")
        if len(value) == 1 and isinstance(ref, str) and ref.startswith("Parameters."):
            return parameters[ref.removeprefix("Parameters.")]
        return {k: resolve_parameters(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_parameters(v, parameters) for v in value]
    return value


def moto_api(endpoint: str, path: str, payload: dict | None = None) -> Any:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(endpoint + path, data=data, method="GET" if data is None else "POST")
    with opener.open(req, timeout=10) as resp:
        return resp.read()


def reset_moto(endpoint: str) -> None:
    moto_api(endpoint, "/moto-api/reset", {})
    moto_api(endpoint, "/moto-api/config", {"batch": {"use_docker": False}})
    moto_api(endpoint, "/moto-api/state-manager/unset-transition", {"model_name": "batch::job"})


def setup_batch(endpoint: str) -> None:
    """Role, compute environment, queue and job definition in moto."""
    iam, batch = direct_client("iam", endpoint), direct_client("batch", endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="flowyml-batch", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName="flowyml-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName="flowyml-queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    batch.register_job_definition(
        jobDefinitionName="flowyml-step",
        type="container",
        containerProperties={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1",
            "command": ["flowyml", "step-runner"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
    )

"""``mle3 train``: run ultralytics from a training configuration and record everything.

The run record is created before training starts and updated at every state change, so
each of success, failure (with the error), Ctrl-C (aborted), SIGTERM or ``--timeout``
(terminated) and SIGKILL (left ``in_progress``, shown as stale) leaves a complete,
readable record. On success the run's success is recorded, then a draft model version
is written (never the other way round: a model exists only for a run that succeeded).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import yaml

from .. import audit, caveats, formats
from .._atomic import atomic_write_text
from ..hashing import sha256_file
from ..errors import Mle3Error
from ..paths import inside_workspace
from ..vocab import EPOCH_KEYS, AuditAction, model_metrics
from ..recipe.mapping import Deviation, Mapping, map_config, ultralytics_device
from .model_version import write_model_version
from ..runs.hooks import RunEnd, RunHook, RunStart
from ..runs.records import EPOCHS_FILE, RUN_FILE, RunRecord, abort_flag, now_iso, read_epochs

if TYPE_CHECKING:
    from ..workspace import Workspace


class Terminated(BaseException):
    """SIGTERM or the --timeout fired: the run ends as ``terminated``."""


class Pruned(BaseException):
    """A study's pruner stopped this trial after an epoch: the run ends as ``pruned``."""


@dataclass
class TrainOptions:
    epochs: int | None = None
    device: str | None = None
    imgsz: int | None = None
    batch: int | None = None
    data: Path | None = None
    allow_changed_data: bool = False
    timeout: float | None = None
    max_attempts: int = 1
    model_id: str | None = None
    workers: int | None = None
    #: integrations told about the run (:mod:`.hooks`: start, every epoch, end), e.g. the
    #: MLflow mirror the CLI registers for ``--mlflow``; the trainer knows none of them
    hooks: list[RunHook] = field(default_factory=list)
    # --- set by `mle3 tune` for a trial
    #: configuration (and ``augmentation.``) field paths -> values: the trial's configuration
    overrides: dict[str, Any] | None = None
    #: False: the test split is kept from ultralytics and never evaluated
    evaluate_test: bool = True
    #: False: no model version (a trial's weights stay in its run)
    write_model: bool = True
    #: recorded in the run as ``study`` (name, trial, params, objective); ``value`` is added at the end
    study: dict[str, Any] | None = None
    #: called with the run id once the record exists
    on_record: Callable[[str], None] | None = None
    #: called after every epoch with its metrics; may raise :class:`Pruned`
    on_epoch: Callable[[dict[str, Any]], None] | None = None


@dataclass
class TrainResult:
    run_id: str
    status: str
    record: str
    model_version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def config_hash(raw: dict[str, Any]) -> str:
    """The configuration's hash a run records (defined in :mod:`mle3.formats`)."""
    return formats.config_hash(raw)


@dataclass
class Prepared:
    """Everything decided before the first epoch (and recorded before it starts)."""

    cfg: Any
    dataset: Any | None
    data_yaml: Path
    mapping: Mapping
    pretrained: Path | None
    data_check: dict[str, Any]
    fingerprint: str | None
    augmentation: Any | None = None


def prepare(ws: Any, config_ref: str, options: TrainOptions) -> Prepared:
    """Resolve and validate everything; raises one-line user errors, writes nothing."""
    cfg = find_config(ws, config_ref)
    aug = _resolve_augmentation(ws, cfg)
    if options.overrides:
        from .overrides import apply_values

        cfg, aug = apply_values(cfg, aug, options.overrides)
    mapping = _checked_mapping(ws, cfg, aug)
    pretrained = _pretrained_weights(ws, cfg)
    dataset = ws.resolve(cfg.dataset) if cfg.dataset else None
    if options.data is not None:
        return _prepared_with_data(cfg, dataset, mapping, pretrained, aug, options.data)
    dataset = _check_trainable(ws, cfg, dataset)
    accepted = _split_overlap_accepted(ws, dataset)
    data_check = _verify_dataset(ws, dataset, options.allow_changed_data)
    if accepted:
        data_check["split_overlap_deviation"] = accepted
    from ..datasets.materialize import local_data_yaml

    return Prepared(
        cfg,
        dataset,
        local_data_yaml(ws.root, ws.config, dataset, echo=lambda line: print(line, file=sys.stderr)),
        mapping,
        pretrained,
        data_check,
        dataset.fingerprint,
        augmentation=aug,
    )


def _resolve_augmentation(ws: Any, cfg: Any) -> Any | None:
    """The augmentation configuration a training names: a name that resolves to anything
    else is the user's error, reported at the field."""
    if not cfg.augmentation:
        return None
    aug = ws.resolve(cfg.augmentation)
    if aug is None or aug.kind != "augmentation":
        raise Mle3Error(
            f"augmentation {cfg.augmentation!r} names no augmentation configuration",
            file=cfg._file,
            line=ws.line_of(cfg, ("augmentation",)),
            field="augmentation",
        )
    return aug


def _checked_mapping(ws: Any, cfg: Any, aug: Any | None) -> Mapping:
    """The configuration mapped onto ultralytics: refused before anything is recorded when a
    field cannot be mapped, or when its transforms need albumentations that is absent."""
    mapping = map_config(cfg, aug)
    if mapping.albumentations:
        from ..optional import require

        require("albumentations")  # the seed's weather and automotive transforms
    if mapping.problems:
        raise Mle3Error(mapping.problems[0], file=cfg._file, line=ws.line_of(cfg))
    return mapping


def _pretrained_weights(ws: Any, cfg: Any) -> Path | None:
    """The pretrained weights file, which must already lie in the workspace: mle3 never
    downloads weights (a run's starting point must be a file it can hash)."""
    if not isinstance(cfg.transfer.pretrained, str):
        return None
    candidate = cfg.transfer.pretrained
    if not inside_workspace(ws.root, candidate) or not (ws.root / candidate).is_file():
        raise Mle3Error(
            f"transfer.pretrained {candidate!r} is not a file in the workspace; mle3 never downloads weights: "
            "put the weights file there or remove the field to train from the model yaml",
            file=cfg._file,
            line=ws.line_of(cfg, ("transfer", "pretrained")),
            field="transfer.pretrained",
        )
    return ws.root / candidate


def _prepared_with_data(
    cfg: Any, dataset: Any | None, mapping: Mapping, pretrained: Path | None, aug: Any | None, data: Path
) -> Prepared:
    """``--data``: train on the given data.yaml unchecked, recorded as a deviation from the
    configured data set (and the run records no data set fingerprint)."""
    data_yaml = data.resolve()
    if not data_yaml.is_file():
        raise Mle3Error("--data file not found", file=str(data))
    mapping.deviations.append(Deviation("dataset", cfg.dataset, str(data), "command line", "--data"))
    return Prepared(
        cfg,
        dataset,
        data_yaml,
        mapping,
        pretrained,
        {"checked": False, "reason": "--data override"},
        None,
        augmentation=aug,
    )


def _check_trainable(ws: Any, cfg: Any, dataset: Any | None) -> Any:
    """The data set to train on; refused when missing, retired or without registered files:
    a run must name a data set version that is in use and can be verified."""
    if dataset is None or dataset.kind != "dataset":
        raise Mle3Error(
            f"dataset {cfg.dataset!r} names no data set",
            file=cfg._file,
            line=ws.line_of(cfg, ("dataset",)),
            field="dataset",
        )
    if dataset.retired:
        raise Mle3Error(
            f"data set version {dataset.key} is {dataset.status}"
            + (f" ({dataset.status_reason})" if dataset.status_reason else "")
            + ": it is not trained on; name a version still in use",
            file=cfg._file,
            line=ws.line_of(cfg, ("dataset",)),
            field="dataset",
        )
    if not dataset.data_yaml:
        raise Mle3Error(
            f"data set {dataset.key} has no data_yaml: register its files with `mle3 dataset register`",
            file=dataset._file,
        )
    return dataset


def _split_overlap_accepted(ws: Any, dataset: Any) -> str | None:
    """None when the splits are mutually exclusive; else the approved deviation that accepts
    it (its audit entry), or a refusal: a model's validation metrics never come from
    training images unannounced."""
    from ..rules.consistency import split_overlaps

    problems = split_overlaps(dataset)
    if not problems:
        return None
    from ..graph import build_graph
    from ..ledger.approvals import fresh_approvals
    from ..ledger.fingerprint import Fingerprints
    from ..ledger.gates import verified_approvals

    fingerprints = Fingerprints(ws, build_graph(ws))
    counted = verified_approvals(
        ws.root,
        fingerprints=fingerprints,
        require_signatures=ws.config.policy.require_signatures,
        items={dataset.key},
    ).approvals
    for a in fresh_approvals(counted, dataset.key, fingerprints.of(dataset.key)):
        if a.deviation == "consistency.split-overlap":
            return a.entry
    raise Mle3Error(
        f"data set {dataset.key}: {problems[0][0]}: a model trained on it would be validated on its training images. "
        "Give each split its own images and register a new version, or accept it as a deviation: "
        f"mle3 approve {dataset.key} --role ROLE --deviation consistency.split-overlap --comment WHY",
        file=dataset._file,
    )


def _verify_dataset(ws: Any, dataset: Any, allow_changed_data: bool) -> dict[str, Any]:
    """Hash the data set's files against its registration; the result is the run's
    ``data_check``. Changed files stop the run unless ``--allow-changed-data`` (recorded)."""
    from ..datasets import verify

    check = verify(ws.root, dataset, config=ws.config)
    data_check: dict[str, Any] = {
        "checked": True,
        "matches": check.ok,
        "changed": len(check.changed),
        "added": len(check.added),
        "removed": len(check.removed),
        "allow_changed_data": allow_changed_data,
    }
    if not check.ok and not allow_changed_data:
        raise Mle3Error(
            f"data set {dataset.key} changed since registration ({len(check.changed)} changed, {len(check.added)} "
            "added, "
            f"{len(check.removed)} removed, e.g. {(check.changed + check.added + check.removed)[:1]}); register a "
            "new version, "
            "or pass --allow-changed-data (recorded in the run)",
        )
    data_check["location"] = check.location
    return data_check


def find_config(ws: Any, ref: str) -> Any:
    """The training configuration named by id or by its YAML file (``mle3 train`` and ``mle3 tune``)."""
    path = Path(ref)
    if ref.endswith((".yaml", ".yml")) and path.exists():
        rel = ws.rel(path)
        for item in ws.of_kind("training"):
            if item._file == rel:
                return item
        raise Mle3Error("no training configuration in this file", file=rel)
    item = ws.get(ref)
    if item.kind != "training":
        raise Mle3Error(f"{ref} is a {item.kind}, not a training configuration")
    return item


def apply_overrides(prep: Prepared, options: TrainOptions, cuda_count: int) -> dict[str, Any]:
    """Final ultralytics arguments: mapping, command-line overrides (deviations), and the
    device actually present (GPU when there is one, CPU otherwise)."""
    args = dict(prep.mapping.args)
    for name, target, value in (
        ("epochs", "epochs", options.epochs),
        ("batch_size", "batch", options.batch),
        ("image_size", "imgsz", options.imgsz),
        ("hardware.workers", "workers", options.workers),
    ):
        if value is not None and value != args.get(target):
            prep.mapping.deviations.append(
                Deviation(
                    name, args.get(target), value, "command line", f"--{target if target != 'batch' else 'batch'}"
                )
            )
            args[target] = value
    aug = prep.augmentation
    if prep.mapping.albumentations and aug is not None:
        from ..datasets.night import night_list_of
        from ..recipe.mapping import map_albumentations

        # the crop works at the image size used; glare knows the data set's night images
        map_albumentations(prep.mapping, aug, int(args["imgsz"]), night_list_of(prep.data_yaml))
    configured = args.get("device")
    if options.device is not None:
        prep.mapping.deviations.append(
            Deviation("hardware.device", configured, options.device, "command line", "--device")
        )
        args["device"] = ultralytics_device(options.device)
    elif configured is None:
        args["device"] = "0" if cuda_count else "cpu"
    elif str(configured) != "cpu":
        wanted = [int(d) for d in str(configured).split(",") if d.strip().isdigit()]
        if not cuda_count or any(d >= cuda_count for d in wanted):
            prep.mapping.deviations.append(
                Deviation(
                    "hardware.device",
                    configured,
                    "cpu" if not cuda_count else "0",
                    "environment",
                    f"{cuda_count} GPU(s) present",
                )
            )
            args["device"] = "cpu" if not cuda_count else "0"
    if args.get("amp") and str(args["device"]) == "cpu":
        prep.mapping.deviations.append(
            Deviation("hardware.amp", True, False, "environment", "mixed precision applies to GPUs only")
        )
        args["amp"] = False
    args.pop("pretrained", None)
    if prep.pretrained is not None:
        args["pretrained"] = str(prep.pretrained)
    else:
        args["pretrained"] = False
    return args


def _write_run_data_yaml(prep: Prepared, run_dir: Path, keep_test: bool = True) -> Path:
    """ultralytics resolves relative data paths against its own datasets folder; give it
    a copy with an absolute root so it reads exactly the registered files. A study's
    trial gets no ``test`` key: ultralytics cannot even see the test split."""
    data = yaml.safe_load(prep.data_yaml.read_text(encoding="utf-8"))
    data["path"] = str((prep.data_yaml.parent / str(data.get("path") or ".")).resolve())
    if not keep_test:
        data.pop("test", None)
    target = run_dir / "data.yaml"
    atomic_write_text(target, yaml.safe_dump(data, sort_keys=False))
    return target


def epoch_metrics(trainer: Any) -> dict[str, Any]:
    """One epoch's metrics under mle3's names, read from an ultralytics trainer (training and QAT)."""
    raw = {**trainer.label_loss_items(trainer.tloss, prefix="train"), **(trainer.metrics or {})}
    out: dict[str, Any] = {new: float(raw[old]) for old, new in EPOCH_KEYS.items() if old in raw}
    lrs = getattr(trainer, "lr", {}) or {}
    if lrs:
        out["lr"] = float(next(iter(lrs.values())))
    return out


def options_record(options: TrainOptions) -> dict[str, Any]:
    """The command-line choices of a run, as recorded (a queued run is executed with them,
    ``mle3 runs rerun`` repeats them)."""
    out: dict[str, Any] = {}
    for name in (
        "epochs",
        "device",
        "imgsz",
        "batch",
        "data",
        "allow_changed_data",
        "timeout",
        "max_attempts",
        "model_id",
        "workers",
    ):
        value = getattr(options, name)
        if value not in (None, False) and not (name == "max_attempts" and value == 1):
            out[name] = str(value) if isinstance(value, Path) else value
    return out


def options_from_record(run: dict[str, Any]) -> TrainOptions:
    """The choices a run recorded (:func:`options_record`), to execute or repeat it."""
    opts = dict(run.get("options") or {})
    if "data" in opts:
        opts["data"] = Path(opts["data"])
    return TrainOptions(**opts)


def train(
    root: Workspace | Path,
    config_ref: str,
    options: TrainOptions,
    echo: Callable[[str], None] = print,
    *,
    queued: RunRecord | None = None,
) -> TrainResult:
    """Train and record one run (with retries on failure up to ``max_attempts``); with
    ``queued``, execute that pending run (data checked again, arguments resolved for this
    machine's GPUs) instead of creating one. ``root`` is the loaded workspace (or its path)."""
    session = TrainingSession(options, echo)
    session.prepare(root, config_ref)
    session.open_record(queued)
    session.announce()
    return session.run()


class TrainingSession:
    """One ``mle3 train`` run in named phases, in this order: :meth:`prepare` (check
    everything, write nothing), :meth:`open_record` (the run record exists before any epoch),
    :meth:`announce` (warnings, deviations, the audit's start, integrations), :meth:`run`
    (guards armed, attempts with retries, guards released, the audit's end). Each phase
    leaves a readable record should the next one fail or the process be killed."""

    def __init__(self, options: TrainOptions, echo: Callable[[str], None]) -> None:
        self.options = options
        self.echo = echo
        self.ws: Any = None
        self.root = Path()
        self.prep: Prepared | None = None
        self.args: dict[str, Any] = {}
        self.record: RunRecord | None = None
        self.result: TrainResult | None = None
        # the guards of a running attempt (set by _arm, released by _disarm)
        self.data_yaml = Path()
        self.timer_fired = threading.Event()
        self.timer: threading.Timer | None = None
        self._in_main_thread = False
        self._previous_handler: Any = None
        self._stop_watch: Callable[[], None] = lambda: None
        self._detach_log: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ phases
    def prepare(self, root: Workspace | Path, config_ref: str) -> None:
        """Check the model id, resolve the configuration and data, and fix the ultralytics
        arguments for this machine: every user error comes before a record is written."""
        from ..workspace import as_workspace
        from ..recipe.environment import offline_ultralytics

        if self.options.model_id is not None:
            from ..ids import check_id

            check_id(self.options.model_id, "model id", field="--model-id")
        self.ws = as_workspace(root)
        self.root = self.ws.root
        self.prep = prepare(self.ws, config_ref, self.options)
        offline_ultralytics(self.root, self.prep.cfg.hardware.pin_memory)
        import torch

        self.args = apply_overrides(self.prep, self.options, torch.cuda.device_count())

    def open_record(self, queued: RunRecord | None) -> None:
        """Create the run record (or fill the queued one) with everything decided, and keep
        the configuration next to it: the evidence exists before the first epoch."""
        fields = self._record_fields()
        if queued is not None:
            import socket

            queued.update(status="pending", pid=os.getpid(), host=socket.gethostname(), **fields)
            record = queued
        else:
            record = RunRecord.create(self.root, self._prep.cfg.id, **fields)
        self.record = record
        if self.options.on_record is not None:
            self.options.on_record(record.id)
        atomic_write_text(
            record.directory / "config.yaml", yaml.safe_dump({"training": self._prep.cfg._raw}, sort_keys=False)
        )
        self.result = TrainResult(record.id, "pending", record.rel_dir)

    def announce(self) -> None:
        """Tell the user what is not applied or deviates, write the audit's run start and
        start the integrations (``options.hooks``)."""
        prep, record = self._prep, self._record
        for row in prep.mapping.not_applied:
            self._result.warnings.append(f"{row.field}: not applied ({row.note})")
            self.echo(f"warning: {row.field} is not applied: {row.note}")
        if prep.mapping.albumentations:
            from ..datasets.night import night_list_warning

            if (message := night_list_warning(prep.data_yaml)) is not None:
                self._warn(message)
        for dev in prep.mapping.deviations:
            self.echo(
                f"deviation: {dev.field} configured {dev.configured!r}, used {dev.used!r} "
                f"({dev.source}{': ' + dev.reason if dev.reason else ''})"
            )
        audit.append(
            self.root,
            AuditAction.RUN_START,
            record.id,
            {
                "config": prep.cfg.id,
                "config_sha256": record.data["config_sha256"],
                "dataset_version": record.data["dataset_version"],
            },
        )
        if self.options.hooks:
            self._start_hooks()

    def run(self) -> TrainResult:
        """Arm the guards (log, SIGTERM, timeout, abort watch), run the attempts, release the
        guards whatever happened, then write the audit's run end."""
        self._arm()
        try:
            self._attempts()
        finally:
            self._disarm()
        result = self._result
        audit.append(
            self.root,
            AuditAction.RUN_END,
            self._record.id,
            {"status": result.status, "model_version": result.model_version, "error": result.error},
        )
        return result

    # ------------------------------------------------------------------ steps
    def _record_fields(self) -> dict[str, Any]:
        """The run record's content before training: configuration, data, code, environment,
        the arguments used and how each configuration field mapped onto them."""
        from ..recipe.environment import environment, git_state

        prep, args, options = self._prep, self.args, self.options
        cfg = prep.cfg
        return dict(
            config_file=cfg._file,
            config_sha256=config_hash(cfg._raw),
            configuration=cfg._raw,
            augmentation=prep.cfg.augmentation,
            dataset_version=prep.dataset.key if prep.dataset is not None else None,
            dataset_fingerprint=prep.fingerprint,
            data_check=prep.data_check,
            seed=args.get("seed"),
            deterministic=args.get("deterministic"),
            code=git_state(self.root),
            environment=environment(),
            parameters=args,
            mapping=[r.__dict__ for r in prep.mapping.rows],
            deviations=[d.__dict__ for d in prep.mapping.deviations],
            not_applied=[r.field for r in prep.mapping.not_applied],
            max_attempts=options.max_attempts,
            attempts=[],
            **({"study": options.study} if options.study else {}),
            **({"options": options_record(options)} if options_record(options) else {}),
        )

    def _warn(self, message: str) -> None:
        """A warning for the result and the console."""
        self._result.warnings.append(message)
        self.echo(f"warning: {message}")

    def _start_hooks(self) -> None:
        """Start each integration with the requirements of the configuration and data set."""
        prep = self._prep
        requirements = list(
            dict.fromkeys(
                list(prep.cfg.requirements) + (list(prep.dataset.requirements) if prep.dataset is not None else [])
            )
        )
        for hook in self.options.hooks:
            hook.on_run_start(RunStart(self.root, self._record, requirements, self._warn))

    def _arm(self) -> None:
        """Write the run's data.yaml and route the log; make SIGTERM, ``--timeout`` and an abort
        request end the run as ``terminated`` (signals reach the main thread only)."""
        record = self._record
        self.data_yaml = _write_run_data_yaml(self._prep, record.directory, keep_test=self.options.evaluate_test)
        self._detach_log = attach_log(record.directory / "train.log")
        self.timer_fired = threading.Event()
        self._in_main_thread = threading.current_thread() is threading.main_thread()
        TERMINATING.clear()
        self._previous_handler = signal.signal(signal.SIGTERM, _raise_terminated) if self._in_main_thread else None
        self.timer = None
        self._stop_watch = _watch_abort(self.root, record.id, self.timer_fired)
        if self.options.timeout:
            fired = self.timer_fired

            def fire() -> None:
                fired.set()
                os.kill(os.getpid(), signal.SIGTERM)

            self.timer = threading.Timer(self.options.timeout, fire)
            self.timer.daemon = True
            self.timer.start()

    def _attempts(self) -> None:
        """Run attempts until one ends other than by a crash, or ``max_attempts`` crashed."""
        for attempt in range(1, max(1, self.options.max_attempts) + 1):
            if not self._attempt(attempt):
                break

    def _attempt(self, attempt: int) -> bool:
        """One attempt, its end recorded; True when it crashed and another attempt is due.
        Success is recorded (then the model version written) outside the crash handling."""
        record, result, options = self._record, self._result, self.options
        started = time.time()
        record.update(status="in_progress", started=record.data.get("started") or now_iso(), attempt=attempt)
        try:
            on_epoch = _chain(*(h.on_epoch_end for h in options.hooks), options.on_epoch)
            outcome = _run_ultralytics(record, self._prep, self.args, self.data_yaml, self.echo, on_epoch)
        except Pruned:
            _end(record, "pruned", started, attempt, None)
            result.status = "pruned"
            return False
        except Terminated:
            reason = (
                "the user (abort)"
                if abort_flag(self.root, record.id).exists()
                else ("timeout" if self.timer_fired.is_set() else "SIGTERM")
            )
            _end(record, "terminated", started, attempt, f"terminated by {reason}")
            result.status, result.error = "terminated", f"terminated by {reason}"
            return False
        except KeyboardInterrupt:
            _end(record, "aborted", started, attempt, "aborted by the user (Ctrl-C)")
            result.status, result.error = "aborted", "aborted by the user (Ctrl-C)"
            return False
        except Exception as exc:  # a crash of the training itself: recorded, maybe retried
            error = f"{type(exc).__name__}: {exc}"
            _end(record, "failed", started, attempt, error, traceback.format_exc(limit=8))
            result.status, result.error = "failed", error
            if attempt < options.max_attempts:
                self.echo(f"attempt {attempt} failed ({error}); retrying")
                return True
            return False
        finish_success(self.ws, record, self._prep, outcome, options, started, attempt, result)
        return False

    def _disarm(self) -> None:
        """Stop the watchers, tell the integrations how the run ended (with the files to keep),
        restore the SIGTERM handler and the log."""
        record, result = self._record, self._result
        self._stop_watch()
        abort_flag(self.root, record.id).unlink(missing_ok=True)
        if self.timer is not None:
            self.timer.cancel()
        if self.options.hooks:
            weights_dir = self.root / self.ws.layout.weights_dir
            weights = [weights_dir / f"{result.model_version}.pt"] if result.model_version else []
            end = RunEnd(result.status, result.metrics, weights + [record.directory / RUN_FILE])
            for hook in self.options.hooks:
                hook.on_run_end(end)
        if self._in_main_thread:
            signal.signal(signal.SIGTERM, self._previous_handler)
        TERMINATING.clear()
        self._detach_log()

    # ------------------------------------------------------------------ state set by the phases
    @property
    def _prep(self) -> Prepared:
        assert self.prep is not None, "prepare() first"
        return self.prep

    @property
    def _record(self) -> RunRecord:
        assert self.record is not None, "open_record() first"
        return self.record

    @property
    def _result(self) -> TrainResult:
        assert self.result is not None, "open_record() first"
        return self.result


def finish_success(
    ws: Any,
    record: RunRecord,
    prep: Prepared,
    outcome: dict[str, Any],
    options: TrainOptions,
    started: float,
    attempt: int,
    result: TrainResult,
) -> None:
    """Record a finished training's success, then write its model version: in this order,
    so a model version exists only for a run whose record says ``success`` (a crash
    between the two leaves a successful run without a model, never a model of a run that
    did not end; the ``training.model-run-unfinished`` rule catches models written
    otherwise). A model version that cannot be written makes the run ``failed``."""
    if options.study is not None:
        record.data["study"] = {
            **options.study,
            "value": (outcome["final"].get("validation") or {}).get(options.study["objective"]["metric"]),
        }
    _end(record, "success", started, attempt, None)
    crash_for_test("model-version")
    if options.write_model:
        _slices_after_training(ws, record, prep, outcome, result)
    try:
        model_id = write_model_version(ws, record, prep, outcome, options.model_id) if options.write_model else None
        finish_checkpoints(record, prep.mapping)
    except (Exception, Terminated, KeyboardInterrupt) as exc:
        error = f"training succeeded but its model version could not be written: {type(exc).__name__}: {exc}"
        record.update(status="failed", error=error)
        result.status, result.error = "failed", error
        return
    record.update(
        **({"model_version": model_id} if model_id else {}),
        caveats=caveats.summary(record.data, read_epochs(record.directory / EPOCHS_FILE)),
    )
    result.status, result.model_version, result.metrics = "success", model_id, outcome["final"]


def _slices_after_training(
    ws: Any, record: RunRecord, prep: Prepared, outcome: dict[str, Any], result: TrainResult
) -> None:
    """Per-slice metrics for the model version (``outcome["slices"]``) when the data set has
    a metadata table; one that cannot be evaluated is a warning, not a failed training."""
    from .slices import after_training

    try:
        block = after_training(ws, record, prep, outcome)
    except (KeyboardInterrupt, Terminated):
        raise
    except Exception as exc:
        message = f"slices not evaluated: {type(exc).__name__}: {exc} (run `mle3 evaluate MODEL`)"
        result.warnings.append(message)
        return
    if block is not None:
        outcome["slices"] = block


def crash_for_test(point: str) -> None:
    """Test seam for crash tests: ``MLE3_TEST_KILL_AT=<point>`` kills this process with
    SIGKILL there (``model-version``: after the run's success, before its model version)."""
    if os.environ.get("MLE3_TEST_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _watch_abort(root: Path, run_id: str, fired: threading.Event) -> Callable[[], None]:
    """Stop the run (as SIGTERM does: status ``terminated``) within a second of an abort
    request; returns the function that ends the watch."""
    flag = abort_flag(root, run_id)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(1.0):
            if flag.exists():
                fired.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return

    if threading.current_thread() is threading.main_thread():  # the signal reaches the main thread only
        threading.Thread(target=watch, daemon=True, name="mle3-abort-watch").start()
    return done.set


def _chain(*hooks: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None] | None:
    """One per-epoch hook calling each given one in turn."""
    present = [h for h in hooks if h is not None]
    if not present:
        return None

    def call(metrics: dict[str, Any]) -> None:
        for hook in present:
            hook(metrics)

    return call


#: set by SIGTERM: the training loop checks it after every batch, because the handler's
#: exception is lost when the signal lands in a garbage-collector callback or a finalizer
TERMINATING = threading.Event()


def _raise_terminated(signum: int, frame: Any) -> None:  # noqa: ARG001
    # once: a second SIGTERM (an abort's signal and its flag, a timeout) must not break
    # the recording of the first; train() restores the previous handler at its end
    TERMINATING.set()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def check_terminating(*_: Any) -> None:
    """An ultralytics callback: stop at the next batch once SIGTERM arrived."""
    if TERMINATING.is_set():
        raise Terminated()


def _end(
    record: RunRecord, status: str, started: float, attempt: int, error: str | None, trace: str | None = None
) -> None:
    ended = time.time()
    attempts = list(record.data.get("attempts") or [])
    attempts.append({"attempt": attempt, "status": status, "duration_s": round(ended - started, 2), "error": error})
    fields: dict[str, Any] = {"status": status, "ended": now_iso(), "attempts": attempts, "error": error}
    total = sum(a["duration_s"] for a in attempts)
    fields["duration_s"] = round(total, 2)
    if trace:
        fields["traceback"] = trace
    if status != "success":
        # a signal between an epoch's line and the record's update: the line is what happened
        done = max((e["epoch"] for e in record.epochs() if isinstance(e.get("epoch"), int)), default=0)
        known = record.data.get("epochs_completed")
        if done > (known if isinstance(known, int) else 0):
            fields["epochs_completed"] = done
    record.update(**fields)


def attach_log(path: Path) -> Callable[[], None]:
    """Send ultralytics' full log to the run's train.log; on the console keep only its
    warnings (mle3 prints epoch lines), written to the current ``sys.stdout`` (which the
    CLI points at stderr for ``--format json``). Returns the function that undoes it."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("ultralytics")
    logger.addHandler(handler)
    # library deprecation warnings (torch, ModelOpt) go to the log, not over the epoch lines
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    warnings_logger.propagate = False
    logging.captureWarnings(True)
    restore: list[tuple[logging.StreamHandler, Any, int]] = []
    for other in logger.handlers:
        if (
            other is not handler
            and isinstance(other, logging.StreamHandler)
            and not isinstance(other, logging.FileHandler)
        ):
            restore.append((other, other.stream, other.level))
            other.stream = sys.stdout  # not setStream(): it flushes the old stream, which may be closed
            other.setLevel(logging.WARNING)

    def undo() -> None:
        logger.removeHandler(handler)
        logging.captureWarnings(False)
        warnings_logger.removeHandler(handler)
        warnings_logger.propagate = True
        handler.close()
        for other, stream, level in restore:
            other.stream = stream if not getattr(stream, "closed", False) else sys.stderr
            other.setLevel(level)

    return undo


def _run_ultralytics(
    record: RunRecord,
    prep: Prepared,
    args: dict[str, Any],
    data_yaml: Path,
    echo: Callable[[str], None],
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One attempt: train, evaluate best.pt on val and test, hash checkpoints."""
    from ultralytics import YOLO

    model = YOLO(args["model"])
    callbacks = _TrainCallbacks(record, prep.mapping, echo, on_epoch)
    callbacks.register(model)
    train_args = {k: v for k, v in args.items() if k != "model"}
    if prep.mapping.albumentations:
        from ..recipe.augment import build

        train_args["augmentations"] = build(prep.mapping.albumentations, prep.data_yaml)
    model.train(
        data=str(data_yaml),
        project=str(record.directory),
        name="ultralytics",
        exist_ok=True,
        plots=False,
        val=True,
        **train_args,
    )
    trainer: Any = model.trainer  # set by model.train(); ultralytics annotates it as always None
    weights_dir = Path(trainer.save_dir) / "weights"
    best, last = weights_dir / "best.pt", weights_dir / "last.pt"
    chosen = best if best.exists() else last
    state = callbacks.state
    final = {"validation": model_metrics(state.get("final_val") or {})}
    if _has_split(data_yaml, "test"):
        echo("evaluating the best weights on the test split")
        final["test"] = _test_metrics(record, chosen, args, data_yaml)
    checkpoints = _checkpoint_entries(record, weights_dir, prep.mapping)
    outcome = {
        "final": final,
        "checkpoints": checkpoints,
        "best_weights": chosen,
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epochs_run"],
        "early_stop_epoch": state["early_stop_epoch"],
        "imgsz": args.get("imgsz"),
    }
    record.update(
        final_metrics=final,
        checkpoints=checkpoints,
        best_epoch=state["best_epoch"],
        early_stop_epoch=state["early_stop_epoch"],
        epochs_completed=state["epochs_run"],
    )
    return outcome


class _TrainCallbacks:
    """The ultralytics callbacks of one attempt, in one place: stop on SIGTERM, the
    configured fitness, the backbone unfreeze, and every epoch recorded as it ends.
    ``state`` is what the attempt's outcome needs from the training loop."""

    def __init__(
        self,
        record: RunRecord,
        mapping: Mapping,
        echo: Callable[[str], None],
        on_epoch: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.record = record
        self.mapping = mapping
        self.echo = echo
        self.on_epoch = on_epoch
        self.state: dict[str, Any] = {"final": False, "best_epoch": None, "epochs_run": 0, "early_stop_epoch": None}

    def register(self, model: Any) -> None:
        """Add the callbacks to ``model``; the SIGTERM checks come first."""
        model.add_callback("on_train_batch_end", check_terminating)
        model.add_callback("on_fit_epoch_end", check_terminating)
        model.add_callback("on_train_start", self.on_train_start)
        model.add_callback("on_train_epoch_start", self.on_train_epoch_start)
        model.add_callback("on_fit_epoch_end", self.on_fit_epoch_end)

    def on_train_start(self, trainer: Any) -> None:
        """The configured metric picks best.pt; the final evaluation is told from an epoch."""
        if self.mapping.fitness_metric:
            trainer.validator = _FitnessValidator(trainer.validator, self.mapping.fitness_metric)
        flag_final_eval(trainer, self.state)

    def on_train_epoch_start(self, trainer: Any) -> None:
        """Unfreeze the backbone at ``freeze_epochs`` (ultralytics' freeze lasts the whole run)."""
        unfreeze_at = self.mapping.unfreeze_at_epoch
        if unfreeze_at is not None and trainer.epoch == unfreeze_at:
            for name, param in trainer.model.named_parameters():
                if ".dfl" not in name:
                    param.requires_grad = True
            trainer.freeze_layer_names = [".dfl"]
            self.echo(f"epoch {trainer.epoch + 1}: backbone unfrozen (freeze_epochs={unfreeze_at})")

    def on_fit_epoch_end(self, trainer: Any) -> None:
        """Record the epoch that ended (or keep the final evaluation's metrics), print its
        line, then call the per-epoch hook last: a study's pruner may stop the run there."""
        state = self.state
        if state["final"]:
            state["final_val"] = {EPOCH_KEYS.get(k, k): float(v) for k, v in (trainer.metrics or {}).items()}
            return
        epoch = trainer.epoch + 1
        metrics = {
            "epoch": epoch,
            "epochs": trainer.epochs,
            "time": now_iso(),
            "epoch_time_s": round(float(trainer.epoch_time or 0), 3),
        }
        metrics.update(epoch_metrics(trainer))
        metrics["fitness"] = float(trainer.fitness) if trainer.fitness is not None else None
        metrics["best_epoch"] = int(trainer.stopper.best_epoch)
        self.record.append_epoch(metrics)
        state["best_epoch"] = int(trainer.stopper.best_epoch)
        state["epochs_run"] = epoch
        if trainer.stop and epoch < trainer.epochs:
            state["early_stop_epoch"] = epoch
        self.record.update(epochs_completed=epoch, best_epoch=state["best_epoch"])
        self.echo(_epoch_line(metrics, trainer.epochs))
        if self.on_epoch is not None:
            self.on_epoch(metrics)


def _epoch_line(metrics: dict[str, Any], epochs: int) -> str:
    """The console line of one epoch: losses, val metrics, duration."""
    return (
        f"epoch {metrics['epoch']}/{epochs}  loss box {metrics.get('train_box_loss', 0):.3f} cls "
        f"{metrics.get('train_cls_loss', 0):.3f} "
        f"dfl {metrics.get('train_dfl_loss', 0):.3f} | val P {metrics.get('precision', 0):.3f} R "
        f"{metrics.get('recall', 0):.3f} "
        f"mAP50 {metrics.get('mAP50', 0):.3f} mAP50-95 {metrics.get('mAP50_95', 0):.3f}  "
        f"({metrics['epoch_time_s']:.1f} s)"
    )


def _test_metrics(record: RunRecord, weights: Path, args: dict[str, Any], data_yaml: Path) -> dict[str, Any]:
    """The chosen weights evaluated once on the test split, after training (never during)."""
    from ultralytics import YOLO

    test = YOLO(str(weights)).val(
        data=str(data_yaml),
        split="test",
        imgsz=args.get("imgsz", 640),
        batch=args.get("batch", 16),
        device=args.get("device"),
        plots=False,
        project=str(record.directory),
        name="test",
        exist_ok=True,
        verbose=False,
    )
    return model_metrics(
        {
            "precision": float(test.box.mp),
            "recall": float(test.box.mr),
            "mAP50": float(test.box.map50),
            "mAP50_95": float(test.box.map),
        }
    )


def _checkpoint_entries(record: RunRecord, weights_dir: Path, mapping: Mapping) -> list[dict[str, Any]]:
    """Path, hash and size of every checkpoint the configuration keeps (``keep_best``/``keep_last``)."""
    best, last = weights_dir / "best.pt", weights_dir / "last.pt"
    checkpoints = []
    for ckpt in sorted(weights_dir.glob("*.pt")):
        if (ckpt == best and not mapping.keep_best) or (ckpt == last and not mapping.keep_last):
            continue
        checkpoints.append(
            {
                "path": ckpt.relative_to(record.root).as_posix(),
                "sha256": sha256_file(ckpt),
                "bytes": ckpt.stat().st_size,
            }
        )
    return checkpoints


def flag_final_eval(trainer: Any, state: dict[str, Any]) -> None:
    """ultralytics calls ``on_fit_epoch_end`` once more for its final evaluation of
    best.pt; set ``state["final"]`` then, so that call is not taken for an epoch."""
    original = trainer.final_eval

    def final_eval() -> None:
        state["final"] = True
        original()

    trainer.final_eval = final_eval


def finish_checkpoints(record: RunRecord, mapping: Mapping) -> None:
    """Remove best.pt / last.pt when the configuration does not keep them (after the
    model version has its own copy of the weights)."""
    weights_dir = record.directory / "ultralytics" / "weights"
    if not mapping.keep_best:
        (weights_dir / "best.pt").unlink(missing_ok=True)
    if not mapping.keep_last:
        (weights_dir / "last.pt").unlink(missing_ok=True)


def _has_split(data_yaml: Path, split: str) -> bool:
    return bool((yaml.safe_load(data_yaml.read_text()) or {}).get(split))


class _FitnessValidator:
    """Wraps ultralytics' validator so the configured metric is the fitness that picks
    best.pt and drives early stopping (``early_stopping.metric``)."""

    def __init__(self, inner: Any, metric: str) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_metric", metric)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        metrics = self._inner(*args, **kwargs)
        if isinstance(metrics, dict) and self._metric in metrics:
            metrics["fitness"] = float(metrics[self._metric])
        return metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)
